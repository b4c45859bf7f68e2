// Load a Hugging Face model folder, tokenize a prompt, generate with the base model alone and
// stream the text as it is produced.
#include <genarm/genarm.hpp>

#include <cstdio>

#include "example_paths.hpp"

int main(int argc, char** argv) {
  const auto models = models_dir(argc, argv);
  const auto model = genarm::GuidedModel::load(models / "toy-base");  // no ARMs: the base alone
  auto policy = model.new_policy();

  genarm::sampling::SamplerParams params;
  params.temperature = 0.8f;
  params.top_p = 0.95f;
  params.seed = 7;
  genarm::sampling::Sampler sampler(params, model.vocab_size());

  genarm::GenerationConfig config;
  config.max_new_tokens = 40;
  config.eos_token_ids = model.eos_token_ids();

  const std::string prompt = "The old house on the hill";
  std::printf("%s", prompt.c_str());
  const auto result = genarm::generate(policy, sampler, model.tokenizer(),
                                       genarm::Prompts{model.tokenizer().encode(prompt), {}}, config,
                                       [](std::string_view piece) {
                                         std::fwrite(piece.data(), 1, piece.size(), stdout);
                                         std::fflush(stdout);
                                         return true;
                                       });
  std::printf("\n[%zu new tokens, stopped by %s, %.0f tokens/s]\n", result.ids.size(),
              std::string(genarm::to_string(result.stop_reason)).c_str(),
              static_cast<double>(result.ids.size()) / result.decode_seconds);
  return result.ids.empty() ? 1 : 0;
}
