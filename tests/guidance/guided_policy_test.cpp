#include "genarm/guidance/guided_policy.hpp"

#include "guidance_test_helpers.hpp"

namespace genarm {
namespace {

using testing::fixture_model;
using testing::greedy_path;
using testing::hf_dir;
using testing::load_json;
using testing::same_judged_prefix;

using Policy = GuidedPolicy<TransformerSource>;

Policy make_policy(const std::string& base, const std::vector<std::string>& arms, const Guidance& g) {
  std::vector<TransformerSource> guides;
  for (const auto& a : arms) guides.emplace_back(fixture_model(a));
  return Policy(TransformerSource(fixture_model(base)), std::move(guides), 1024, g);
}

struct Family {
  const char* dir;
  const char* base;
};

class GenArmFixture : public ::testing::TestWithParam<Family> {};

TEST_P(GenArmFixture, GuidedGreedyMatchesForEveryBeta) {
  const auto expected = load_json(hf_dir() / GetParam().dir / "expected.json");
  const auto prompt = expected["prompt"].get<std::vector<int32_t>>();
  for (const auto& c : expected["guided_greedy"]) {
    const float beta = c["beta"].get<float>();
    auto policy = make_policy(GetParam().base, {"llama-tiny-arm"}, Guidance{{}, beta});
    policy.start(prompt);
    // First-step decoding log-probs: log_softmax(z) over the whole vocabulary.
    const auto want_lp = c["first_step_decode_logprobs"].get<std::vector<double>>();
    policy.next_logits();
    double worst = 0.0;
    for (size_t v = 0; v < want_lp.size(); ++v) {
      worst = std::max(worst, std::abs(policy.guided_logprob(static_cast<int32_t>(v)) - want_lp[v]));
    }
    EXPECT_LT(worst, 1e-5 * std::max(1.0, std::abs(*std::min_element(want_lp.begin(), want_lp.end()))))
        << "beta " << beta;
    const auto want = c["new_tokens"].get<std::vector<int32_t>>();
    const auto path = greedy_path(policy, want.size());
    EXPECT_TRUE(same_judged_prefix(path, want)) << "beta " << beta;
    EXPECT_GE(path.judged, 1u);
  }
}

TEST_P(GenArmFixture, MultiObjectiveMatches) {
  const auto expected = load_json(hf_dir() / GetParam().dir / "expected.json");
  const auto prompt = expected["prompt"].get<std::vector<int32_t>>();
  for (const auto& c : expected["multi_objective"]) {
    auto policy = make_policy(GetParam().base, {"llama-tiny-arm", "llama-tiny-arm2"},
                              Guidance{c["weights"].get<std::vector<float>>(), c["beta"].get<float>()});
    policy.start(prompt);
    const auto want = c["new_tokens"].get<std::vector<int32_t>>();
    EXPECT_TRUE(same_judged_prefix(greedy_path(policy, want.size()), want));
  }
}

INSTANTIATE_TEST_SUITE_P(Families, GenArmFixture,
                         ::testing::Values(Family{"genarm", "llama-tiny"},
                                           Family{"genarm-weak-to-strong", "llama-small"}),
                         [](const auto& info) { return std::string(info.param.base) == "llama-tiny" ? "Tiny" : "WeakToStrong"; });

TEST(GuidedPolicy, NoGuidesIsTheBaseModel) {
  auto policy = make_policy("llama-tiny", {}, {});
  TransformerSource base(fixture_model("llama-tiny"));
  const std::vector<int32_t> prompt{1, 5, 77};
  policy.start(prompt);
  base.prefill(prompt);
  const auto z = policy.next_logits();
  const double lse = log_sum_exp(base.logits());
  for (size_t v = 0; v < z.size(); ++v) ASSERT_NEAR(z[v], base.logits()[v] - lse, 1e-5);
}

TEST(GuidedPolicy, WeightsChangeBetweenStepsWithoutReloading) {
  auto policy = make_policy("llama-tiny", {"llama-tiny-arm", "llama-tiny-arm2"}, Guidance{{1.0f, 0.0f}, 1.0f});
  auto single = make_policy("llama-tiny", {"llama-tiny-arm"}, Guidance{{}, 1.0f});
  const std::vector<int32_t> prompt{1, 20, 30};
  policy.start(prompt);
  single.start(prompt);
  // A zero weight removes an ARM's influence exactly.
  auto a = policy.next_logits();
  auto b = single.next_logits();
  for (size_t v = 0; v < a.size(); ++v) ASSERT_NEAR(a[v], b[v], 1e-5);
  policy.set_guidance(Guidance{{0.5f, 0.5f}, 0.5f});
  const auto c = policy.next_logits();
  double diff = 0;
  for (size_t v = 0; v < c.size(); ++v) diff = std::max(diff, static_cast<double>(std::abs(c[v] - b[v])));
  EXPECT_GT(diff, 1e-2);
  // z = logp_base + (w1/beta) logp_arm1 + (w2/beta) logp_arm2, checked token by token.
  for (int32_t v : {0, 7, 500, 1023}) {
    const double want = policy.component_logprob(0, v) + policy.component_logprob(1, v) + policy.component_logprob(2, v);
    EXPECT_NEAR(c[static_cast<size_t>(v)], want, 1e-4);
  }
}

TEST(GuidedPolicy, OwnPromptPerModel) {
  auto policy = make_policy("llama-tiny", {"llama-tiny-arm"}, {});
  const std::vector<int32_t> base_prompt{1, 10, 11, 12};
  const std::vector<std::vector<int32_t>> arm_prompts{{1, 99}};
  policy.start(base_prompt, arm_prompts);
  EXPECT_EQ(policy.base().length(), 4);
  EXPECT_EQ(policy.guide(0).length(), 2);
  policy.next_logits();
  policy.advance(42);
  EXPECT_EQ(policy.base().state().tokens().back(), 42);
  EXPECT_EQ(policy.guide(0).state().tokens().back(), 42);
  EXPECT_EQ(policy.guide(0).length(), 3);
}

TEST(GuidedPolicy, ForkContinuesIndependently) {
  auto policy = make_policy("llama-tiny", {"llama-tiny-arm"}, Guidance{{}, 0.5f});
  policy.start(std::vector<int32_t>{1, 2, 3});
  policy.advance(4);
  auto forked = policy.fork();
  policy.advance(5);
  forked.advance(5);
  const auto a = policy.next_logits();
  const auto b = forked.next_logits();
  for (size_t v = 0; v < a.size(); ++v) ASSERT_FLOAT_EQ(a[v], b[v]);
  forked.advance(6);
  EXPECT_EQ(policy.base().length(), 5);
  EXPECT_EQ(forked.base().length(), 6);
}

TEST(GuidedPolicy, RejectsInvalidGuidance) {
  GENARM_EXPECT_ERROR(make_policy("llama-tiny", {"llama-tiny-arm"}, Guidance{{}, 0.0f}),
                      ErrorCategory::kInvalidArgument, "beta", "> 0");
  GENARM_EXPECT_ERROR(make_policy("llama-tiny", {"llama-tiny-arm"}, Guidance{{}, -1.0f}),
                      ErrorCategory::kInvalidArgument, "beta");
  GENARM_EXPECT_ERROR(make_policy("llama-tiny", {"llama-tiny-arm"}, Guidance{{}, std::nanf("")}),
                      ErrorCategory::kInvalidArgument, "beta");
  GENARM_EXPECT_ERROR(make_policy("llama-tiny", {"llama-tiny-arm"}, Guidance{{1.0f, 2.0f}, 1.0f}),
                      ErrorCategory::kInvalidArgument, "2 weight(s) for 1 ARM(s)");
  auto policy = make_policy("llama-tiny", {"llama-tiny-arm"}, {});
  GENARM_EXPECT_ERROR(policy.start(std::vector<int32_t>{}), ErrorCategory::kInvalidArgument, "prompt is empty");
  policy.start(std::vector<int32_t>{1});
  GENARM_EXPECT_ERROR(policy.advance(1024), ErrorCategory::kInvalidArgument, "token 1024");
}

TEST(GuidedPolicy, VocabularyIsCutToTheTokenizer) {
  // A policy over the first 1000 tokens ignores the rest of each model's logits.
  std::vector<TransformerSource> guides;
  guides.emplace_back(fixture_model("llama-tiny-arm"));
  Policy policy(TransformerSource(fixture_model("llama-tiny")), std::move(guides), 1000);
  policy.start(std::vector<int32_t>{1, 2});
  const auto z = policy.next_logits();
  ASSERT_EQ(z.size(), 1000u);
  const auto base = policy.base().logits().first(1000);
  const auto arm = policy.guide(0).logits().first(1000);
  const double lb = log_sum_exp(base), la = log_sum_exp(arm);
  for (size_t v = 0; v < 1000; v += 97) EXPECT_NEAR(z[v], (base[v] - lb) + (arm[v] - la), 1e-4);
  // A tokenizer larger than a model's vocabulary is an error.
  GENARM_EXPECT_ERROR(Policy(TransformerSource(fixture_model("llama-tiny")), {}, 2000),
                      ErrorCategory::kInvalidArgument, "1024 logits", "2000 tokens");
}

TEST(GuidedPolicy, ContrastiveDecodingWithSignedCoefficientsAndAFilter) {
  auto policy = make_policy("llama-tiny", {"llama-tiny-arm"}, {});
  policy.start(std::vector<int32_t>{1, 40, 41});
  const float coefficients[] = {1.0f, -1.0f};
  policy.set_coefficients(coefficients);
  policy.set_filter(0, ComponentFilter{.min_p = 0.1f});
  const auto z = policy.next_logits();
  const auto base = policy.base().logits();
  const float max = *std::max_element(base.begin(), base.begin() + 1024);
  size_t kept = 0;
  for (size_t v = 0; v < 1024; ++v) {
    const bool plausible = base[v] >= max + std::log(0.1f);
    if (!plausible) {
      ASSERT_EQ(z[v], kNegInf) << v;
    } else {
      ++kept;
      const double want = policy.component_logprob(0, static_cast<int32_t>(v)) -
                          policy.component_logprob(1, static_cast<int32_t>(v));
      ASSERT_NEAR(z[v], want, 1e-4);
    }
  }
  EXPECT_GE(kept, 1u);
}

}  // namespace
}  // namespace genarm

namespace genarm {
namespace {

TEST(GuidedPolicy, SourcesRunSideBySideWithIdenticalResults) {
  auto serial = make_policy("llama-tiny", {"llama-tiny-arm", "llama-tiny-arm2"}, Guidance{{0.6f, 0.4f}, 0.5f});
  auto parallel = make_policy("llama-tiny", {"llama-tiny-arm", "llama-tiny-arm2"}, Guidance{{0.6f, 0.4f}, 0.5f});
  ThreadPool pool(2);
  parallel.set_source_parallelism(&pool);
  const std::vector<int32_t> prompt{1, 33, 44, 55};
  serial.start(prompt);
  parallel.start(prompt);
  for (int step = 0; step < 12; ++step) {
    const auto a = serial.next_logits();
    const auto b = parallel.next_logits();
    for (size_t v = 0; v < a.size(); ++v) ASSERT_EQ(a[v], b[v]) << "step " << step;
    const auto next = static_cast<int32_t>(std::max_element(a.begin(), a.end()) - a.begin());
    serial.advance(next);
    parallel.advance(next);
  }
  // An error in one source still surfaces, after every source ran.
  std::vector<int32_t> too_long(300, 5);
  GENARM_EXPECT_ERROR(parallel.start(too_long), ErrorCategory::kInvalidArgument, "context of 256");
}

}  // namespace
}  // namespace genarm
