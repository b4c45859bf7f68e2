#include "genarm/generate/generator.hpp"

#include <cmath>
#include <map>

#include "genarm/guidance/guided_model.hpp"
#include "test_support.hpp"

namespace genarm {
namespace {

using testing::hf_dir;
using testing::load_json;

GuidedModel fixture_family(const std::string& base, std::vector<std::string> arms) {
  std::vector<std::filesystem::path> dirs;
  for (const auto& a : arms) dirs.push_back(hf_dir() / "models" / a);
  return GuidedModel::load(hf_dir() / "models" / base, dirs);
}

// decode(prompt + new) == decode(prompt) + text
::testing::AssertionResult continues(const Tokenizer& tok, std::vector<int32_t> prompt, const GenerationResult& r) {
  const std::string before = tok.decode(prompt, true);
  prompt.insert(prompt.end(), r.ids.begin(), r.ids.end());
  const std::string full = tok.decode(prompt, true);
  if (full == before + r.text) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "full '" << full << "' != '" << before << "' + '" << r.text << "'";
}

sampling::SamplerParams greedy() {
  sampling::SamplerParams p;
  p.greedy = true;
  return p;
}

TEST(Generate, GreedyGuidedGenerationReproducesTheFixture) {
  const auto expected = load_json(hf_dir() / "genarm" / "expected.json");
  const auto model = fixture_family("llama-tiny", {"llama-tiny-arm"});
  const auto& c = expected["guided_greedy"][0];  // beta 0.25, the widest margins
  auto policy = model.new_policy(Guidance{{}, c["beta"].get<float>()});
  sampling::Sampler sampler(greedy(), model.vocab_size());
  GenerationConfig config;
  config.max_new_tokens = 16;
  config.eos_token_ids = model.eos_token_ids();
  const auto r = generate(policy, sampler, model.tokenizer(), Prompts{expected["prompt"].get<std::vector<int32_t>>(), {}}, config);
  EXPECT_EQ(r.ids, c["new_tokens"].get<std::vector<int32_t>>());
  EXPECT_EQ(r.stop_reason, StopReason::kLength);
  EXPECT_TRUE(continues(model.tokenizer(), expected["prompt"].get<std::vector<int32_t>>(), r));
  ASSERT_EQ(r.details.size(), 16u);
  // The first step's guided log-prob is the fixture's decoding log-prob of the chosen token.
  const auto lp = c["first_step_decode_logprobs"].get<std::vector<double>>();
  EXPECT_NEAR(r.details[0].logprob_guided, lp[static_cast<size_t>(r.ids[0])], 1e-4);
  // GenARM's decomposition holds for every detail row: z = logp_base + logp_arm / beta.
  ASSERT_EQ(r.num_guides, 1u);
  ASSERT_EQ(r.guide_logprobs.size(), 16u);
  // Each detail is the chosen token's log-prob under that model, recomputed independently.
  TransformerSource base(model.base()), arm(model.arms()[0]);
  const auto prompt = expected["prompt"].get<std::vector<int32_t>>();
  base.prefill(prompt);
  arm.prefill(prompt);
  for (size_t t = 0; t < 16; ++t) {
    const auto id = static_cast<size_t>(r.ids[t]);
    EXPECT_NEAR(r.details[t].logprob_base, base.logits()[id] - log_sum_exp(base.logits()), 1e-4) << t;
    EXPECT_NEAR(r.guide_logprob(t, 0), arm.logits()[id] - log_sum_exp(arm.logits()), 1e-4) << t;
    base.advance(r.ids[t]);
    arm.advance(r.ids[t]);
  }
}

TEST(Generate, TopLogprobsAreTheGuidedDistributionsBestTokens) {
  const auto model = fixture_family("llama-tiny", {"llama-tiny-arm"});
  auto policy = model.new_policy(Guidance{{}, 0.5f});
  sampling::Sampler sampler(greedy(), model.vocab_size());
  GenerationConfig config;
  config.max_new_tokens = 8;
  config.top_logprobs = 5;
  const Prompts prompts{model.tokenizer().encode("The license"), {}};
  const auto r = generate(policy, sampler, model.tokenizer(), prompts, config);
  ASSERT_EQ(r.top_k, 5u);
  ASSERT_EQ(r.top_logprobs.size(), 5 * r.ids.size());
  // Recomputed independently: log softmax of z = logp_base + logp_arm / beta.
  TransformerSource base(model.base()), arm(model.arms()[0]);
  base.prefill(prompts.base);
  arm.prefill(prompts.base);
  for (size_t t = 0; t < r.ids.size(); ++t) {
    std::vector<double> z(model.vocab_size());
    const double lb = log_sum_exp(base.logits()), la = log_sum_exp(arm.logits());
    for (size_t v = 0; v < z.size(); ++v) z[v] = (base.logits()[v] - lb) + (arm.logits()[v] - la) / 0.5;
    double mx = *std::max_element(z.begin(), z.end()), sum = 0;
    for (double x : z) sum += std::exp(x - mx);
    const double norm = mx + std::log(sum);
    const auto top = r.top_of(t);
    EXPECT_EQ(top[0].id, r.ids[t]) << t;  // greedy picks the most likely token
    EXPECT_FLOAT_EQ(top[0].logprob, r.details[t].logprob_guided) << t;
    for (size_t i = 0; i < top.size(); ++i) {
      EXPECT_NEAR(top[i].logprob, z[static_cast<size_t>(top[i].id)] - norm, 1e-4) << t << " " << i;
      if (i > 0) EXPECT_GE(top[i - 1].logprob, top[i].logprob);
    }
    base.advance(r.ids[t]);
    arm.advance(r.ids[t]);
  }
}

TEST(Generate, StreamedPiecesConcatenateToTheText) {
  const auto model = fixture_family("llama-tiny", {"llama-tiny-arm"});
  auto policy = model.new_policy();
  sampling::SamplerParams p;
  p.seed = 7;
  sampling::Sampler sampler(p, model.vocab_size());
  GenerationConfig config;
  config.max_new_tokens = 40;
  std::string streamed;
  const auto r = generate(policy, sampler, model.tokenizer(), Prompts{model.tokenizer().encode("The license"), {}}, config,
                          [&](std::string_view piece) {
                            streamed += piece;
                            return true;
                          });
  EXPECT_EQ(streamed, r.text);
  EXPECT_TRUE(continues(model.tokenizer(), model.tokenizer().encode("The license"), r));
  EXPECT_EQ(r.text.substr(0, 1), " ");  // the first new word keeps its space
}

TEST(Generate, FixedSeedReproducesAndSeedsDiffer) {
  const auto model = fixture_family("llama-tiny", {"llama-tiny-arm"});
  const auto run = [&](uint64_t seed) {
    auto policy = model.new_policy(Guidance{{}, 2.0f});
    sampling::SamplerParams p;
    p.seed = seed;
    p.temperature = 1.0f;
    sampling::Sampler sampler(p, model.vocab_size());
    GenerationConfig config;
    config.max_new_tokens = 30;
    config.ignore_eos = true;
    return generate(policy, sampler, model.tokenizer(), Prompts{{1, 300, 400}, {}}, config).ids;
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
}

TEST(Generate, StopsAtStopStringAndCutsTheText) {
  const auto model = fixture_family("llama-tiny", {});
  auto policy = model.new_policy();
  sampling::Sampler sampler(greedy(), model.vocab_size());
  GenerationConfig config;
  config.max_new_tokens = 24;
  const auto full = generate(policy, sampler, model.tokenizer(), Prompts{{1, 5, 6, 7}, {}}, config);
  ASSERT_GE(full.text.size(), 6u);
  // Stop at a string that first occurs inside the text.
  const std::string stop = full.text.substr(3, 2);
  config.stop_strings = {stop};
  std::string streamed;
  const auto cut = generate(policy, sampler, model.tokenizer(), Prompts{{1, 5, 6, 7}, {}}, config,
                            [&](std::string_view piece) {
                              streamed += piece;
                              return true;
                            });
  EXPECT_EQ(cut.stop_reason, StopReason::kStopString);
  EXPECT_EQ(cut.text, full.text.substr(0, full.text.find(stop)));
  EXPECT_EQ(streamed, cut.text);
  EXPECT_LE(cut.ids.size(), full.ids.size());
}

TEST(Generate, EosStopsUnlessIgnored) {
  const auto model = fixture_family("llama-tiny", {});
  auto policy = model.new_policy();
  sampling::SamplerParams p;
  p.logit_bias = {{2, 1000.0f}};  // force </s>
  p.greedy = true;
  sampling::Sampler sampler(p, model.vocab_size());
  GenerationConfig config;
  config.max_new_tokens = 5;
  config.eos_token_ids = model.eos_token_ids();
  ASSERT_EQ(config.eos_token_ids, std::vector<int32_t>{2});
  auto r = generate(policy, sampler, model.tokenizer(), Prompts{{1, 9}, {}}, config);
  EXPECT_EQ(r.ids, std::vector<int32_t>{2});
  EXPECT_EQ(r.stop_reason, StopReason::kEos);
  EXPECT_EQ(r.text, "");
  config.ignore_eos = true;
  r = generate(policy, sampler, model.tokenizer(), Prompts{{1, 9}, {}}, config);
  EXPECT_EQ(r.ids.size(), 5u);
  EXPECT_EQ(r.stop_reason, StopReason::kLength);
}

TEST(Generate, StopsAtTheContextAndOnCallback) {
  const auto model = fixture_family("llama-tiny", {"llama-tiny-arm"});  // 256 positions
  auto policy = model.new_policy();
  sampling::Sampler sampler(greedy(), model.vocab_size());
  GenerationConfig config;
  config.max_new_tokens = 50;
  std::vector<int32_t> prompt(250, 7);
  prompt[0] = 1;
  auto r = generate(policy, sampler, model.tokenizer(), Prompts{prompt, {}}, config);
  EXPECT_EQ(r.stop_reason, StopReason::kContext);
  EXPECT_EQ(r.ids.size(), 7u);  // positions 250..255 fed back, the 7th token needs no forward
  int pieces = 0;
  r = generate(policy, sampler, model.tokenizer(), Prompts{{1, 5}, {}}, config, [&](std::string_view) {
    return ++pieces < 3;
  });
  EXPECT_EQ(r.stop_reason, StopReason::kCallback);
}

TEST(Generate, RejectsInvalidConfig) {
  const auto model = fixture_family("llama-tiny", {});
  auto policy = model.new_policy();
  sampling::Sampler sampler(greedy(), model.vocab_size());
  GenerationConfig config;
  config.max_new_tokens = 0;
  GENARM_EXPECT_ERROR(generate(policy, sampler, model.tokenizer(), Prompts{{1}, {}}, config),
                      ErrorCategory::kInvalidArgument, "max_new_tokens must be > 0, got 0");
}

// --- Sampling follows the guided distribution (a user's own engine, plugged in) -------------

// A user's "engine": fixed logits over 8 tokens, whatever the history.
class FixedSource {
 public:
  explicit FixedSource(std::vector<float> logits) : logits_(std::move(logits)) {}
  void prefill(std::span<const int32_t>) {}
  void advance(int32_t) {}
  std::span<const float> logits() const { return logits_; }
  size_t vocab_size() const { return logits_.size(); }
  void reset() {}
  FixedSource fork() const { return *this; }

 private:
  std::vector<float> logits_;
};

TEST(Generate, SamplesFollowTheGenArmDistribution) {
  const std::vector<float> base{0.0f, 1.0f, 2.0f, 0.5f, -1.0f, 1.5f, 0.2f, -0.5f};
  const std::vector<float> arm{1.0f, -1.0f, 0.0f, 2.0f, 0.0f, -2.0f, 1.0f, 0.5f};
  const float beta = 0.5f;
  GuidedPolicy<FixedSource> policy(FixedSource(base), {FixedSource(arm)}, 8, Guidance{{}, beta});
  // Expected: p ∝ p_base * p_arm^(1/beta).
  std::vector<double> want(8);
  double total = 0;
  for (size_t v = 0; v < 8; ++v) total += want[v] = std::exp(base[v] + arm[v] / beta);
  for (auto& w : want) w /= total;

  const auto tokenizer = Tokenizer::from_file(hf_dir() / "tokenizers" / "toy-spm");
  sampling::SamplerParams p;
  p.seed = 1234;
  sampling::Sampler sampler(p, 8);
  GenerationConfig config;
  config.max_new_tokens = 1;
  config.details = false;
  std::vector<int> counts(8, 0);
  const int draws = 40000;
  for (int i = 0; i < draws; ++i) {
    const auto r = generate(policy, sampler, tokenizer, Prompts{{1}, {}}, config);
    ++counts[static_cast<size_t>(r.ids[0])];
  }
  double chi2 = 0;
  for (size_t v = 0; v < 8; ++v) {
    const double e = want[v] * draws;
    chi2 += (counts[v] - e) * (counts[v] - e) / e;
  }
  // 7 degrees of freedom: P(chi2 > 29.9) < 1e-4; the seed is fixed, so this is deterministic.
  EXPECT_LT(chi2, 29.9);
}

}  // namespace
}  // namespace genarm
