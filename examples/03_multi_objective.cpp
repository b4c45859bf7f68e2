// Multi-objective GenARM: one ARM per preference (positive sentiment, conciseness), weights chosen
// per request at decoding time — no retraining, no reloading. Sweeping the weights traces the
// trade-off between the two objectives.
#include <genarm/genarm.hpp>

#include <cstdio>

#include "example_paths.hpp"

int main(int argc, char** argv) {
  const auto models = models_dir(argc, argv);
  const auto afinn = genarm::eval::AfinnScorer::load(models / ".." / "data" / "afinn165.json");
  const auto model = genarm::GuidedModel::load(models / "toy-base", {models / "toy-arm-positive", models / "toy-arm-concise"});
  auto policy = model.new_policy();  // one policy, re-weighted for every setting below
  genarm::sampling::Sampler sampler(genarm::sampling::SamplerParams{}, model.vocab_size());
  genarm::GenerationConfig config;
  config.max_new_tokens = 40;
  config.eos_token_ids = model.eos_token_ids();
  const char* prompts[] = {"The children", "After the war", "She told him", "The new school", "Our town",
                           "The committee", "Every summer", "The letter from"};

  std::printf("%-22s %10s %12s\n", "weights pos/concise", "sentiment", "new tokens");
  double first_len = 0, last_len = 0, first_sent = 0, last_sent = 0;
  for (float w : {1.0f, 0.75f, 0.5f, 0.25f, 0.0f}) {
    policy.set_guidance(genarm::Guidance{{w, 1.0f - w}, /*beta=*/0.5f});
    double sentiment = 0, length = 0;
    for (size_t i = 0; i < std::size(prompts); ++i) {
      sampler.reseed(i);
      const auto r = genarm::generate(policy, sampler, model.tokenizer(),
                                      genarm::Prompts{model.tokenizer().encode(prompts[i]), {}}, config);
      sentiment += afinn.score(r.text);
      length += static_cast<double>(r.ids.size());
    }
    sentiment /= static_cast<double>(std::size(prompts));
    length /= static_cast<double>(std::size(prompts));
    std::printf("%-22s %10.2f %12.1f\n", (std::to_string(w).substr(0, 4) + " / " + std::to_string(1 - w).substr(0, 4)).c_str(),
                sentiment, length);
    if (w == 1.0f) first_sent = sentiment, first_len = length;
    if (w == 0.0f) last_sent = sentiment, last_len = length;
  }
  std::printf("more weight on positive: sentiment %.2f vs %.2f; more weight on concise: %.1f vs %.1f tokens\n",
              first_sent, last_sent, last_len, first_len);
  return (first_sent > last_sent && last_len < first_len) ? 0 : 1;
}
