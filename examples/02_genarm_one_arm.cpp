// GenARM with one ARM: the toy base guided toward positive sentiment by toy-arm-positive, against
// the base alone on the same prompts and seeds. Prints both texts and their AFINN sentiment.
#include <genarm/genarm.hpp>

#include <cstdio>

#include "example_paths.hpp"

int main(int argc, char** argv) {
  const auto models = models_dir(argc, argv);
  const auto afinn = genarm::eval::AfinnScorer::load(models / ".." / "data" / "afinn165.json");
  const auto model = genarm::GuidedModel::load(models / "toy-base", {models / "toy-arm-positive"});

  genarm::GenerationConfig config;
  config.max_new_tokens = 40;
  config.eos_token_ids = model.eos_token_ids();
  const char* prompts[] = {"The report said", "My neighbour", "In the morning the city", "He looked at the letter"};

  double base_total = 0, guided_total = 0;
  for (float weight : {0.0f, 1.0f}) {  // weight 0 = the ARM has no influence: the base alone
    auto policy = model.new_policy(genarm::Guidance{{weight}, /*beta=*/1.0f});
    genarm::sampling::SamplerParams params;
    genarm::sampling::Sampler sampler(params, model.vocab_size());
    std::printf("%s\n", weight == 0 ? "base alone:" : "GenARM, positive ARM, beta 1:");
    for (size_t i = 0; i < std::size(prompts); ++i) {
      sampler.reseed(100 + i);
      const auto r = genarm::generate(policy, sampler, model.tokenizer(),
                                      genarm::Prompts{model.tokenizer().encode(prompts[i]), {}}, config);
      const int s = afinn.score(r.text);
      (weight == 0 ? base_total : guided_total) += s;
      std::printf("  [%+3d] %s%s\n", s, prompts[i], r.text.c_str());
    }
  }
  const double n = static_cast<double>(std::size(prompts));
  std::printf("mean sentiment: base %.2f, GenARM %.2f\n", base_total / n, guided_total / n);
  return guided_total > base_total ? 0 : 1;
}
