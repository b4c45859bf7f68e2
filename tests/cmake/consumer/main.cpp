// A program that uses genarm the way a downstream project does: through the umbrella header and
// the genarm::genarm target (or genarm::compiled). Loads a model folder, guides it with itself as
// an ARM, prints text.
#include <genarm/genarm.hpp>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer MODEL_DIR\n");
    return 2;
  }
  try {
    const auto model = genarm::GuidedModel::load(argv[1], {argv[1]});
    auto policy = model.new_policy(genarm::Guidance{{}, 2.0f});
    genarm::sampling::SamplerParams params;
    params.greedy = true;
    genarm::sampling::Sampler sampler(params, model.vocab_size());
    genarm::GenerationConfig config;
    config.max_new_tokens = 8;
    const auto result = genarm::generate(policy, sampler, model.tokenizer(),
                                         genarm::Prompts{model.tokenizer().encode("Hello"), {}}, config);
    std::printf("consumer ok: %zu tokens\n", result.ids.size());
    return result.ids.size() == 8 ? 0 : 1;
  } catch (const genarm::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
