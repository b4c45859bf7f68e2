#include "genarm/guidance/arm_reward.hpp"

#include "guidance_test_helpers.hpp"

namespace genarm {
namespace {

using testing::fixture_model;
using testing::hf_dir;
using testing::load_json;

// A hand-written source with fixed logits, to check the generic (non-batched) path.
class TableSource {
 public:
  void prefill(std::span<const int32_t> tokens) { history_.insert(history_.end(), tokens.begin(), tokens.end()); }
  void advance(int32_t token) { history_.push_back(token); }
  std::span<const float> logits() const {
    // Next-token logits depend on the last token: token t favours t + 1.
    for (size_t v = 0; v < logits_.size(); ++v) logits_[v] = 0.0f;
    logits_[static_cast<size_t>((history_.back() + 1) % 4)] = 2.0f;
    return logits_;
  }
  size_t vocab_size() const { return 4; }
  void reset() { history_.clear(); }
  TableSource fork() const { return *this; }

 private:
  std::vector<int32_t> history_;
  mutable std::vector<float> logits_ = std::vector<float>(4);
};
static_assert(LogitSource<TableSource>);

TEST(ArmReward, MatchesFixtureRewards) {
  for (const char* family : {"genarm", "genarm-weak-to-strong"}) {
    const auto expected = load_json(hf_dir() / family / "expected.json");
    const auto prompt = expected["prompt"].get<std::vector<int32_t>>();
    TransformerSource arm(fixture_model("llama-tiny-arm"));
    for (const auto& c : expected["arm_reward"]) {
      const auto response = c["response"].get<std::vector<int32_t>>();
      const double want = c["reward"].get<double>();
      const ArmScore s = arm_score(arm, prompt, response, 1024);
      EXPECT_NEAR(s.reward, want, 1e-5 * std::abs(want)) << family << " response of " << response.size();
      EXPECT_EQ(s.token_logprobs.size(), response.size());
    }
  }
}

TEST(ArmReward, GenericSourcePathSumsTokenLogProbs) {
  TableSource arm;
  const std::vector<int32_t> prompt{0};
  const std::vector<int32_t> response{1, 2, 0};  // 1 and 2 are favoured, 0 (after 2) is not
  const ArmScore s = arm_score(arm, prompt, response, 4);
  const double favoured = 2.0 - std::log(std::exp(2.0) + 3.0);
  const double other = 0.0 - std::log(std::exp(2.0) + 3.0);
  ASSERT_EQ(s.token_logprobs.size(), 3u);
  EXPECT_NEAR(s.token_logprobs[0], favoured, 1e-6);
  EXPECT_NEAR(s.token_logprobs[1], favoured, 1e-6);
  EXPECT_NEAR(s.token_logprobs[2], other, 1e-6);
  EXPECT_NEAR(s.reward, 2 * favoured + other, 1e-6);
}

TEST(ArmReward, BatchedAndStepwiseAgree) {
  TransformerSource arm(fixture_model("llama-tiny-arm"));
  const std::vector<int32_t> prompt{1, 3, 5};
  const std::vector<int32_t> response{7, 9, 11, 13, 2};
  const ArmScore batched = arm_score(arm, prompt, response, 1024);
  double stepwise = 0.0;
  arm.reset();
  arm.prefill(prompt);
  for (int32_t t : response) {
    stepwise += arm.logits()[static_cast<size_t>(t)] - log_sum_exp(arm.logits());
    arm.advance(t);
  }
  EXPECT_NEAR(batched.reward, stepwise, 1e-4);
}

TEST(ArmReward, RejectsBadInput) {
  TransformerSource arm(fixture_model("llama-tiny-arm"));
  GENARM_EXPECT_ERROR(arm_score(arm, std::vector<int32_t>{}, std::vector<int32_t>{1}, 1024),
                      ErrorCategory::kInvalidArgument, "prompt is empty");
  GENARM_EXPECT_ERROR(arm_score(arm, std::vector<int32_t>{1}, std::vector<int32_t>{5000}, 1024),
                      ErrorCategory::kInvalidArgument, "response token 5000");
}

TEST(ArmReward, BatchedScoresEqualScoringOneAtATime) {
  const auto model = fixture_model("llama-tiny-arm");
  std::vector<std::vector<int32_t>> prompts, responses;
  for (int i = 0; i < 7; ++i) {
    prompts.push_back({1});
    for (int j = 0; j < i % 4; ++j) prompts.back().push_back(10 + 3 * i + j);
    responses.emplace_back();
    for (int j = 0; j < (i * 5) % 9; ++j) responses.back().push_back(20 + 7 * j + i);  // one empty response
  }
  std::vector<ScoreItem> items;
  for (size_t i = 0; i < prompts.size(); ++i) items.push_back({prompts[i], responses[i]});
  const auto batched = arm_scores(model, items, static_cast<size_t>(model.vocab_size()));
  ASSERT_EQ(batched.size(), items.size());
  TransformerSource one(model);
  for (size_t i = 0; i < items.size(); ++i) {
    const auto want = arm_score(one, prompts[i], responses[i], static_cast<size_t>(model.vocab_size()));
    EXPECT_EQ(batched[i].token_logprobs, want.token_logprobs) << i;
    EXPECT_EQ(batched[i].reward, want.reward) << i;
  }
  const std::vector<int32_t> empty;
  const std::vector<ScoreItem> bad{{empty, responses[1]}};
  GENARM_EXPECT_ERROR(arm_scores(model, bad, 10), ErrorCategory::kInvalidArgument, "the prompt is empty");
}

}  // namespace
}  // namespace genarm
