// Scoring and reranking with an ARM: r(x, y) = sum_t log pi_arm(y_t | x, y_<t). Sample several
// continuations from the base, score each with the positive ARM, print them best first.
#include <genarm/genarm.hpp>

#include <algorithm>
#include <cstdio>

#include "example_paths.hpp"

int main(int argc, char** argv) {
  const auto models = models_dir(argc, argv);
  const auto afinn = genarm::eval::AfinnScorer::load(models / ".." / "data" / "afinn165.json");
  const auto model = genarm::GuidedModel::load(models / "toy-base", {models / "toy-arm-positive"});
  auto policy = model.new_policy(genarm::Guidance{{0.0f}, 1.0f});  // sample from the base alone
  genarm::sampling::Sampler sampler(genarm::sampling::SamplerParams{}, model.vocab_size());
  genarm::GenerationConfig config;
  config.max_new_tokens = 30;
  config.eos_token_ids = model.eos_token_ids();
  genarm::TransformerSource arm(model.arms()[0]);

  const std::string prompt = "The people of the village";
  const auto prompt_ids = model.tokenizer().encode(prompt);
  struct Candidate {
    double reward;
    int sentiment;
    std::string text;
  };
  std::vector<Candidate> candidates;
  for (uint64_t seed = 0; seed < 8; ++seed) {
    sampler.reseed(seed);
    const auto r = genarm::generate(policy, sampler, model.tokenizer(), genarm::Prompts{prompt_ids, {}}, config);
    // Per-token reward (the sum grows with length; the average compares texts of any length).
    const double reward = genarm::arm_score(arm, prompt_ids, r.ids, model.vocab_size()).reward /
                          static_cast<double>(std::max<size_t>(r.ids.size(), 1));
    candidates.push_back({reward, afinn.score(r.text), r.text});
  }
  std::sort(candidates.begin(), candidates.end(), [](const auto& a, const auto& b) { return a.reward > b.reward; });
  for (const auto& c : candidates) std::printf("[ARM reward/token %7.3f, sentiment %+d] %s%s\n", c.reward, c.sentiment, prompt.c_str(), c.text.c_str());
  double top = 0, bottom = 0;
  for (size_t i = 0; i < 4; ++i) top += candidates[i].sentiment, bottom += candidates[candidates.size() - 1 - i].sentiment;
  std::printf("mean sentiment of the 4 best by ARM reward: %.2f, of the 4 worst: %.2f\n", top / 4, bottom / 4);
  return 0;
}
