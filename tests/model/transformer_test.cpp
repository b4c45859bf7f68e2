#include "genarm/model/transformer.hpp"

#include <filesystem>

#include "test_support.hpp"

namespace genarm::model {
namespace {

using genarm::testing::hf_dir;
using genarm::testing::json_to_vector;
using genarm::testing::load_json;
using genarm::testing::rows_near;

constexpr double kLogitTolerance = 1e-5;

class TransformerFixture : public ::testing::TestWithParam<std::string> {
 protected:
  std::filesystem::path dir() const { return hf_dir() / "models" / GetParam(); }
};

int argmax(std::span<const float> v) {
  return static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin());
}

TEST_P(TransformerFixture, FullForwardMatchesEveryPosition) {
  const auto model = Transformer::load(dir());
  const auto expected = load_json(dir() / "expected.json");
  for (const auto& seq : expected["sequences"]) {
    const auto ids = seq["ids"].get<std::vector<int32_t>>();
    auto state = model.new_sequence();
    RowMatrix logits;
    model.forward_all(state, ids, logits);
    ASSERT_EQ(logits.rows(), static_cast<Eigen::Index>(ids.size()));
    for (size_t t = 0; t < ids.size(); ++t) {
      const Eigen::VectorXf want = json_to_vector(seq["logits"][t]);
      EXPECT_TRUE(rows_near(Eigen::VectorXf(logits.row(static_cast<Eigen::Index>(t))), want, kLogitTolerance))
          << GetParam() << " sequence of " << ids.size() << " tokens, position " << t;
    }
  }
}

TEST_P(TransformerFixture, IncrementalDecodingMatchesEveryPosition) {
  const auto model = Transformer::load(dir());
  const auto expected = load_json(dir() / "expected.json");
  for (const auto& seq : expected["sequences"]) {
    const auto ids = seq["ids"].get<std::vector<int32_t>>();
    auto state = model.new_sequence(4);  // grows while decoding
    for (size_t t = 0; t < ids.size(); ++t) {
      const auto logits = model.forward(state, ids[t]);
      const Eigen::VectorXf got = Eigen::Map<const Eigen::VectorXf>(logits.data(), static_cast<Eigen::Index>(logits.size()));
      EXPECT_TRUE(rows_near(got, json_to_vector(seq["logits"][t]), kLogitTolerance))
          << GetParam() << " position " << t;
    }
  }
}

TEST_P(TransformerFixture, GreedyPathMatches) {
  const auto model = Transformer::load(dir());
  const auto expected = load_json(dir() / "expected.json");
  for (const char* key : {"greedy", "greedy_text"}) {
    const auto& g = expected[key];
    const auto prompt = g["prompt"].get<std::vector<int32_t>>();
    const auto want = g["new_tokens"].get<std::vector<int32_t>>();
    auto state = model.new_sequence();
    auto logits = model.forward(state, prompt);
    std::vector<int32_t> got;
    for (size_t i = 0; i < want.size(); ++i) {
      got.push_back(argmax(logits));
      logits = model.forward(state, got.back());
    }
    EXPECT_EQ(got, want) << GetParam() << " " << key;
  }
}

TEST_P(TransformerFixture, ThreadedMatchesSingleThread) {
  const auto model = Transformer::load(dir());
  const auto expected = load_json(dir() / "expected.json");
  const auto ids = expected["sequences"][2]["ids"].get<std::vector<int32_t>>();
  ThreadPool pool(3);
  auto single = model.new_sequence();
  auto threaded = model.new_sequence();
  threaded.set_thread_pool(&pool);
  RowMatrix a, b;
  model.forward_all(single, ids, a);
  model.forward_all(threaded, ids, b);
  EXPECT_LE((a - b).cwiseAbs().maxCoeff(), 1e-5f * a.cwiseAbs().maxCoeff());
  for (int step = 0; step < 5; ++step) {
    const auto la = model.forward(single, step);
    const auto lb = model.forward(threaded, step);
    EXPECT_EQ(argmax(la), argmax(lb));
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TransformerFixture,
                         ::testing::Values("gpt2-tiny", "llama-tiny", "llama-tiny-arm", "llama-tiny-arm2",
                                           "llama-small", "llama-tiny-bf16", "llama-tiny-f16"));

TEST(Transformer, RotaryFrequenciesMatchTransformers) {
  const auto model = Transformer::load(hf_dir() / "models" / "llama-tiny");
  const auto expected = load_json(hf_dir() / "models" / "llama-tiny" / "expected.json");
  const auto want = expected["inv_freq"].get<std::vector<float>>();
  const auto& got = model.weights().rope_inv_freq;
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_FLOAT_EQ(got[i], want[i]) << i;
}

TEST(Transformer, RewardModelMatchesTransformers) {
  const auto dir = hf_dir() / "models" / "llama-rm-tiny";
  const auto model = Transformer::load(dir);
  const auto expected = load_json(dir / "expected.json");
  for (const auto& seq : expected["sequences"]) {
    const auto ids = seq["ids"].get<std::vector<int32_t>>();
    const float want = seq["reward"].get<float>();
    auto whole = model.new_sequence();
    model.forward(whole, ids);
    EXPECT_NEAR(model.reward(whole), want, 1e-5 * std::max(1.0f, std::abs(want)));
    auto stepwise = model.new_sequence();
    for (int32_t id : ids) model.forward(stepwise, id);
    EXPECT_NEAR(model.reward(stepwise), want, 1e-5 * std::max(1.0f, std::abs(want)));
  }
}

TEST(Transformer, ForkedStatesDecodeIndependently) {
  const auto model = Transformer::load(hf_dir() / "models" / "llama-tiny");
  auto a = model.new_sequence();
  model.forward(a, std::vector<int32_t>{1, 5, 9});
  SequenceState b = a;  // fork
  const std::vector<float> after_a(model.forward(a, 7).begin(), model.forward(a, 7).end());
  (void)after_a;
  auto fresh = model.new_sequence();
  model.forward(fresh, std::vector<int32_t>{1, 5, 9, 7, 7});
  const auto la = a.logits();
  for (size_t i = 0; i < la.size(); ++i) ASSERT_NEAR(la[i], fresh.logits()[i], 1e-5);
  // b still continues from the fork point.
  model.forward(b, 3);
  auto fresh_b = model.new_sequence();
  model.forward(fresh_b, std::vector<int32_t>{1, 5, 9, 3});
  for (size_t i = 0; i < la.size(); ++i) ASSERT_NEAR(b.logits()[i], fresh_b.logits()[i], 1e-5);
  EXPECT_EQ(b.length(), 4);
  EXPECT_EQ(a.length(), 5);
}

TEST(Transformer, RejectsBadTokensAndOverlongSequences) {
  const auto model = Transformer::load(hf_dir() / "models" / "llama-tiny");
  auto s = model.new_sequence();
  GENARM_EXPECT_ERROR(model.forward(s, 1024), ErrorCategory::kInvalidArgument, "token id 1024",
                      "vocabulary of 1024");
  GENARM_EXPECT_ERROR(model.forward(s, -1), ErrorCategory::kInvalidArgument, "token id -1");
  std::vector<int32_t> long_prompt(257, 5);
  GENARM_EXPECT_ERROR(model.forward(s, long_prompt), ErrorCategory::kInvalidArgument, "257 tokens",
                      "context of 256");
  EXPECT_EQ(s.length(), 0);
}

}  // namespace
}  // namespace genarm::model

namespace genarm::model {
namespace {

TEST(TransformerSiblings, RewardsEqualSeparateForwards) {
  const auto rm = Transformer::load(testing::hf_dir() / "models" / "llama-rm-tiny");
  auto prefix = rm.new_sequence();
  rm.forward(prefix, std::vector<int32_t>{5, 17, 300, 42});
  const std::vector<int32_t> candidates{7, 900, 7, 1, 1023};
  std::vector<float> rewards(candidates.size());
  rm.forward_siblings(prefix, candidates, rewards);
  EXPECT_EQ(prefix.length(), 4);  // nothing appended
  for (size_t j = 0; j < candidates.size(); ++j) {
    SequenceState fork = prefix;
    rm.forward(fork, candidates[j]);
    EXPECT_NEAR(rewards[j], rm.reward(fork), 1e-5) << "candidate " << j;
  }
  // Appending a sibling reuses its keys and values: later tokens see the same cache.
  rm.append_sibling(prefix, 1);
  rm.forward(prefix, 11);
  auto fresh = rm.new_sequence();
  rm.forward(fresh, std::vector<int32_t>{5, 17, 300, 42, 900, 11});
  EXPECT_NEAR(rm.reward(prefix), rm.reward(fresh), 1e-5);
}

TEST(TransformerSiblings, LogitsEqualSeparateForwardsForEveryArchitecture) {
  for (const char* name : {"llama-tiny", "gpt2-tiny", "llama-tiny-bf16"}) {
    const auto m = Transformer::load(testing::hf_dir() / "models" / name);
    auto prefix = m.new_sequence(2);  // the siblings need room beyond the prefix: the cache grows
    m.forward(prefix, std::vector<int32_t>{3, 4});
    const std::vector<int32_t> candidates{10, 20, 30};
    RowMatrix rows;
    std::vector<float> unused;
    m.forward_siblings(prefix, candidates, unused, &rows);
    ASSERT_EQ(rows.rows(), 3);
    for (size_t j = 0; j < candidates.size(); ++j) {
      SequenceState fork = prefix;
      const auto want = m.forward(fork, candidates[j]);
      EXPECT_TRUE(testing::rows_near(Eigen::VectorXf(rows.row(static_cast<Eigen::Index>(j))),
                                     Eigen::Map<const Eigen::VectorXf>(want.data(), static_cast<Eigen::Index>(want.size())), 1e-5))
          << name << " candidate " << j;
    }
    m.append_sibling(prefix, 2);
    EXPECT_EQ(prefix.tokens().back(), 30);
    SequenceState check = prefix;
    auto fresh = m.new_sequence();
    m.forward(fresh, std::vector<int32_t>{3, 4, 30});
    for (size_t v = 0; v < fresh.logits().size(); ++v) ASSERT_NEAR(prefix.logits()[v], fresh.logits()[v], 1e-4);
    m.forward(check, 5);
    m.forward(fresh, 5);
    for (size_t v = 0; v < fresh.logits().size(); ++v) ASSERT_NEAR(check.logits()[v], fresh.logits()[v], 1e-4);
  }
}

TEST(TransformerSiblings, MisuseIsAnError) {
  const auto m = Transformer::load(testing::hf_dir() / "models" / "llama-tiny");
  auto s = m.new_sequence();
  m.forward(s, 1);
  GENARM_EXPECT_ERROR(m.append_sibling(s, 0), ErrorCategory::kInvalidArgument, "without a matching forward_siblings");
  std::vector<float> none;
  m.forward_siblings(s, std::vector<int32_t>{4, 5}, none);
  m.forward(s, 6);  // the sequence moved on: the siblings are stale
  GENARM_EXPECT_ERROR(m.append_sibling(s, 1), ErrorCategory::kInvalidArgument, "append_sibling(1)");
  GENARM_EXPECT_ERROR(m.forward_siblings(s, std::vector<int32_t>{4096}, none), ErrorCategory::kInvalidArgument,
                      "candidate token id 4096");
}

}  // namespace
}  // namespace genarm::model
