#include "genarm/sampling/candidates.hpp"

#include <cmath>
#include <vector>

#include "sampling_helpers.hpp"
#include "test_support.hpp"

namespace genarm::sampling {
namespace {

using test::candidates_of;
using test::kInf;

TEST(Candidates, AssignNumbersTokensInOrder) {
  Candidates c(2);
  c.assign(std::vector<float>{0.5f, -1.0f, 2.0f});  // grows past the initial capacity
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c.vocab_size(), 3u);
  EXPECT_GE(c.capacity(), 3u);
  EXPECT_FALSE(c.sorted());
  EXPECT_EQ(c.selected(), -1);
  for (int32_t i = 0; i < 3; ++i) EXPECT_EQ(c.items()[static_cast<size_t>(i)].id, i);
  EXPECT_EQ(c.items()[2].logit, 2.0f);
}

TEST(Candidates, AssignStartsAFreshStep) {
  Candidates c = candidates_of({1, 2, 3, 4});
  c.sort_descending();
  c.truncate(1);
  c.select(3, -0.5);
  c.assign(std::vector<float>{0, 0});
  EXPECT_EQ(c.size(), 2u);
  EXPECT_FALSE(c.sorted());
  EXPECT_EQ(c.selected(), -1);
  EXPECT_FALSE(c.selected_logprob().has_value());
}

TEST(Candidates, AssignRejectsBadLogits) {
  Candidates c;
  GENARM_EXPECT_ERROR(c.assign(std::vector<float>{}), ErrorCategory::kInvalidArgument,
                      "at least one logit");
  GENARM_EXPECT_ERROR(c.assign(std::vector<float>{0, std::nanf(""), 1}),
                      ErrorCategory::kInvalidArgument, "token 1", "NaN");
  GENARM_EXPECT_ERROR(c.assign(std::vector<float>{0, 1, kInf}), ErrorCategory::kInvalidArgument,
                      "token 2", "+inf");
  GENARM_EXPECT_ERROR(c.assign(std::vector<float>{-kInf, -kInf}), ErrorCategory::kInvalidArgument,
                      "no token has finite logit");
  EXPECT_EQ(c.size(), 0u);  // a failed assign leaves nothing to sample from
}

TEST(Candidates, ProbabilitiesAreSoftmaxWithZeroForMinusInf) {
  // exp(log k) = k: weights 1, 2, 0, 3 -> 1/6, 2/6, 0, 3/6.
  Candidates c = candidates_of({0.0f, std::log(2.0f), -kInf, std::log(3.0f)});
  const auto p = c.probabilities();
  ASSERT_EQ(p.size(), 4u);
  EXPECT_NEAR(p[0], 1.0 / 6, 1e-7);
  EXPECT_NEAR(p[1], 2.0 / 6, 1e-7);
  EXPECT_EQ(p[2], 0.0);
  EXPECT_NEAR(p[3], 3.0 / 6, 1e-7);
  EXPECT_NEAR(c.log_normalizer(), std::log(6.0), 1e-6);
}

TEST(Candidates, ProbabilitiesAreStableForHugeLogits) {
  Candidates c = candidates_of({1e30f, 1e30f, -1e30f});
  const auto p = c.probabilities();
  EXPECT_EQ(p[0], 0.5);
  EXPECT_EQ(p[1], 0.5);
  EXPECT_EQ(p[2], 0.0);
  EXPECT_TRUE(std::isfinite(c.log_normalizer()));
}

TEST(Candidates, ProbabilitiesFailWhenEverythingIsBanned) {
  Candidates c = candidates_of({1, 2});
  for (TokenLogit& t : c.items()) t.logit = -kInf;
  GENARM_EXPECT_ERROR(c.probabilities(), ErrorCategory::kInvalidArgument,
                      "no token has finite logit");
  std::vector<double> dense;
  GENARM_EXPECT_ERROR(c.dense_probabilities(2, dense), ErrorCategory::kInvalidArgument,
                      "no token has finite logit");
}

TEST(Candidates, SortBreaksTiesByLowerId) {
  Candidates c = candidates_of({1, 3, 3, -kInf, 2, 3});
  c.sort_descending();
  EXPECT_TRUE(c.sorted());
  const std::vector<int32_t> expected{1, 2, 5, 4, 0, 3};
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(c.items()[i].id, expected[i]) << i;
}

TEST(Candidates, PartialSortPutsTheBestFirst) {
  Candidates c = candidates_of({0.1f, 0.9f, 0.5f, 0.7f, 0.3f, 0.8f});
  c.partial_sort_descending(3);
  EXPECT_FALSE(c.sorted());
  EXPECT_EQ(c.items()[0].id, 1);
  EXPECT_EQ(c.items()[1].id, 5);
  EXPECT_EQ(c.items()[2].id, 3);
  c.partial_sort_descending(5);  // the last one is then in place too
  EXPECT_TRUE(c.sorted());
  EXPECT_EQ(c.items()[5].id, 0);
}

TEST(Candidates, TruncateAndKeepIfPreserveOrder) {
  Candidates c = candidates_of({5, 1, 4, 2, 3});
  c.sort_descending();
  EXPECT_EQ(c.keep_if([](const TokenLogit& t) { return t.id != 2; }), 4u);
  EXPECT_TRUE(c.sorted());
  const std::vector<int32_t> after{0, 4, 3, 1};
  for (size_t i = 0; i < after.size(); ++i) EXPECT_EQ(c.items()[i].id, after[i]);
  c.truncate(2);
  EXPECT_EQ(c.size(), 2u);
  c.truncate(10);  // never grows
  EXPECT_EQ(c.size(), 2u);
}

TEST(Candidates, FindByIdBeforeAndAfterReordering) {
  Candidates c = candidates_of({0.5f, 2.5f, 1.5f});
  ASSERT_NE(c.find(2), nullptr);
  EXPECT_EQ(c.find(2)->logit, 1.5f);
  EXPECT_EQ(c.find(-1), nullptr);
  EXPECT_EQ(c.find(3), nullptr);
  c.sort_descending();
  ASSERT_NE(c.find(0), nullptr);
  EXPECT_EQ(c.find(0)->logit, 0.5f);
  c.truncate(2);
  EXPECT_EQ(c.find(0), nullptr);
}

TEST(Candidates, DenseProbabilitiesGiveZeroToRemovedTokens) {
  Candidates c = candidates_of({0.0f, std::log(3.0f), 5.0f, std::log(1.0f)});
  c.keep_if([](const TokenLogit& t) { return t.id != 2; });
  std::vector<double> p;
  c.dense_probabilities(6, p);  // a larger vocabulary: extra ids are 0
  ASSERT_EQ(p.size(), 6u);
  EXPECT_NEAR(p[0], 0.2, 1e-7);
  EXPECT_NEAR(p[1], 0.6, 1e-7);
  EXPECT_EQ(p[2], 0.0);
  EXPECT_NEAR(p[3], 0.2, 1e-7);
  EXPECT_EQ(p[4], 0.0);
  GENARM_EXPECT_ERROR(c.dense_probabilities(2, p), ErrorCategory::kInvalidArgument,
                      "candidate id 3", "vocabulary of 2");
}

TEST(Candidates, SelectRecordsIdAndOptionalLogprob) {
  Candidates c = candidates_of({1, 2});
  c.select(1);
  EXPECT_EQ(c.selected(), 1);
  EXPECT_FALSE(c.selected_logprob().has_value());
  c.select(0, -1.25);
  EXPECT_EQ(c.selected(), 0);
  EXPECT_EQ(c.selected_logprob(), -1.25);
}

TEST(Candidates, SaturateKeepsFiniteValuesFinite) {
  EXPECT_EQ(detail::saturate(1e300), std::numeric_limits<float>::max());
  EXPECT_EQ(detail::saturate(-1e300), -std::numeric_limits<float>::max());
  EXPECT_EQ(detail::saturate(1.5), 1.5f);
}

}  // namespace
}  // namespace genarm::sampling
