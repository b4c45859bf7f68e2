#include "genarm/generate/best_of_n.hpp"

#include "genarm/guidance/guided_model.hpp"
#include "genarm/guidance/trajectory_reward.hpp"
#include "test_support.hpp"

namespace genarm {
namespace {

using testing::hf_dir;

TEST(BestOfN, PicksTheHighestRewardAndEqualsIndependentSamples) {
  const auto model = GuidedModel::load(hf_dir() / "models" / "llama-tiny");
  TrajectoryReward rm(model::Transformer::load(hf_dir() / "models" / "llama-rm-tiny"));
  auto policy = model.new_policy();
  sampling::Sampler sampler(sampling::SamplerParams{}, model.vocab_size());
  GenerationConfig config;
  config.max_new_tokens = 12;
  const Prompts prompts{{1, 40, 50}, {}};
  std::string streamed;
  const auto r = best_of_n(policy, sampler, model.tokenizer(), prompts, config, 4, 100,
                           [&](const Prompts& p, const GenerationResult& g) { return rm(p.base, g.ids); },
                           [&](std::string_view piece) {
                             streamed += piece;
                             return true;
                           });
  ASSERT_EQ(r.rewards.size(), 4u);
  for (double v : r.rewards) EXPECT_LE(v, r.rewards[r.best_index]);
  EXPECT_EQ(r.best.ids, r.candidates[r.best_index].ids);
  EXPECT_EQ(streamed, r.best.text);
  // Sharing the prefill changes nothing: sample i equals a fresh generation with seed 100 + i.
  for (int i = 0; i < 4; ++i) {
    sampler.reseed(100 + static_cast<uint64_t>(i));
    const auto fresh = generate(policy, sampler, model.tokenizer(), prompts, config);
    EXPECT_EQ(fresh.ids, r.candidates[static_cast<size_t>(i)].ids) << "sample " << i;
  }
  GENARM_EXPECT_ERROR(best_of_n(policy, sampler, model.tokenizer(), prompts, config, 0, 1,
                                [](const Prompts&, const GenerationResult&) { return 0.0; }),
                      ErrorCategory::kInvalidArgument, "N >= 1");
}

TEST(TrajectoryReward, ScoresPromptPlusResponse) {
  TrajectoryReward rm(model::Transformer::load(hf_dir() / "models" / "llama-rm-tiny"));
  const auto expected = testing::load_json(hf_dir() / "models" / "llama-rm-tiny" / "expected.json");
  const auto ids = expected["sequences"][2]["ids"].get<std::vector<int32_t>>();
  const std::span<const int32_t> all(ids);
  EXPECT_NEAR(rm(all.first(3), all.subspan(3)), expected["sequences"][2]["reward"].get<double>(), 1e-5);
  GENARM_EXPECT_ERROR(TrajectoryReward(model::Transformer::load(hf_dir() / "models" / "llama-tiny")),
                      ErrorCategory::kInvalidArgument, "not a trajectory reward model");
}

}  // namespace
}  // namespace genarm
