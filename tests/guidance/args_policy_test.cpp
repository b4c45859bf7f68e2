#include "genarm/guidance/args_policy.hpp"

#include "genarm/generate/generator.hpp"
#include "guidance_test_helpers.hpp"

namespace genarm {
namespace {

using testing::fixture_model;
using testing::greedy_path;
using testing::hf_dir;
using testing::load_json;
using testing::same_judged_prefix;

TEST(ArgsPolicy, GreedyMatchesTheFixture) {
  const auto expected = load_json(hf_dir() / "genarm" / "expected.json");
  const auto prompt = expected["prompt"].get<std::vector<int32_t>>();
  for (const auto& c : expected["args_greedy"]) {
    ArgsParams params{c["k"].get<int>(), c["w"].get<float>()};
    ArgsPolicy<TransformerSource> policy(TransformerSource(fixture_model("llama-tiny")), fixture_model("llama-rm-tiny"),
                                         1024, params);
    policy.start(prompt);
    const auto want = c["new_tokens"].get<std::vector<int32_t>>();
    const auto path = greedy_path(policy, want.size());
    EXPECT_TRUE(same_judged_prefix(path, want)) << "k " << params.k << " w " << params.w;
    EXPECT_GE(path.judged, 3u);
  }
}

TEST(ArgsPolicy, ScoresAreBaseLogProbPlusWeightedReward) {
  const auto base = fixture_model("llama-tiny");
  const auto rm = fixture_model("llama-rm-tiny");
  ArgsPolicy<TransformerSource> policy(TransformerSource(base), rm, 1024, ArgsParams{5, 0.7f});
  const std::vector<int32_t> prompt{1, 50, 60};
  policy.start(prompt);
  const auto z = policy.next_logits();
  size_t finite = 0;
  for (float v : z) finite += v > kNegInf;
  EXPECT_EQ(finite, 5u);
  TransformerSource check(base);
  check.prefill(prompt);
  const double lse = log_sum_exp(check.logits());
  for (size_t j = 0; j < 5; ++j) {
    const int32_t c = policy.candidates()[j];
    auto state = rm.new_sequence();
    std::vector<int32_t> seq = prompt;
    seq.push_back(c);
    rm.forward(state, seq);
    const double want = check.logits()[static_cast<size_t>(c)] - lse + 0.7 * rm.reward(state);
    EXPECT_NEAR(z[static_cast<size_t>(c)], want, 1e-4) << "candidate " << c;
  }
  // The candidates are the base's top 5.
  std::vector<float> sorted(check.logits().begin(), check.logits().end());
  std::sort(sorted.rbegin(), sorted.rend());
  for (int32_t c : policy.candidates()) EXPECT_GE(check.logits()[static_cast<size_t>(c)], sorted[4]);
}

TEST(ArgsPolicy, StochasticSamplingStaysAmongTheCandidates) {
  ArgsPolicy<TransformerSource> policy(TransformerSource(fixture_model("llama-tiny")), fixture_model("llama-rm-tiny"),
                                       1024, ArgsParams{3, 1.5f});
  const auto tokenizer = Tokenizer::from_file(hf_dir() / "models" / "llama-tiny");
  sampling::SamplerParams p;
  p.seed = 5;
  sampling::Sampler sampler(p, 1024);
  GenerationConfig config;
  config.max_new_tokens = 20;
  config.ignore_eos = true;
  // Record, at each step, that the sampled token was one of the k candidates.
  const auto r = generate(policy, sampler, tokenizer, Prompts{{1, 7, 8}, {}}, config);
  ASSERT_EQ(r.ids.size(), 20u);
  for (const auto& d : r.details) EXPECT_GT(d.logprob_guided, -1e9) << d.id;
  EXPECT_EQ(policy.rm_state().length(), 3 + 19);  // the last token needed no forward
}

TEST(ArgsPolicy, RejectsACausalLmAsRewardModel) {
  GENARM_EXPECT_ERROR(ArgsPolicy<TransformerSource>(TransformerSource(fixture_model("llama-tiny")),
                                                    fixture_model("llama-tiny-arm"), 1024),
                      ErrorCategory::kInvalidArgument, "trajectory reward model");
  GENARM_EXPECT_ERROR(ArgsPolicy<TransformerSource>(TransformerSource(fixture_model("llama-tiny")),
                                                    fixture_model("llama-rm-tiny"), 1024, ArgsParams{0, 1.0f}),
                      ErrorCategory::kInvalidArgument, "k must be >= 1");
}

}  // namespace
}  // namespace genarm
