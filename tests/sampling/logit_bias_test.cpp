#include "genarm/sampling/logit_bias.hpp"

#include <vector>

#include "sampling_helpers.hpp"
#include "test_support.hpp"

namespace genarm::sampling {
namespace {

using test::candidates_of;
using test::kInf;
using test::logit_of;

TEST(LogitBias, AddsBiasesAndBans) {
  LogitBias bias({{2, 1.5f}, {0, -kInf}, {3, -0.5f}});
  Candidates c = candidates_of({1, 1, 1, 1});
  c.set_sorted(true);
  bias.apply(c);
  EXPECT_EQ(logit_of(c, 0), -kInf);
  EXPECT_EQ(logit_of(c, 1), 1.0f);
  EXPECT_EQ(logit_of(c, 2), 2.5f);
  EXPECT_EQ(logit_of(c, 3), 0.5f);
  EXPECT_FALSE(c.sorted());
  EXPECT_EQ(test::dense(c)[0], 0.0);  // banned: probability 0, not NaN
}

TEST(LogitBias, BanningEverythingIsReportedBySampling) {
  LogitBias bias({{0, -kInf}, {1, -kInf}});
  Candidates c = candidates_of({1, 2});
  bias.apply(c);
  GENARM_EXPECT_ERROR(c.probabilities(), ErrorCategory::kInvalidArgument,
                      "no token has finite logit");
}

TEST(LogitBias, MinusInfStaysMinusInfUnderPositiveBias) {
  LogitBias bias({{0, 100.0f}});
  Candidates c = candidates_of({-kInf, 0});
  bias.apply(c);
  EXPECT_EQ(logit_of(c, 0), -kInf);
}

TEST(LogitBias, WorksOnReorderedCandidates) {
  LogitBias bias({{0, 10.0f}, {3, -kInf}});
  Candidates c = candidates_of({0, 4, 3, 2});
  c.sort_descending();  // ids now 1 2 3 0
  c.truncate(3);        // token 0 gone: the bias for it is simply unused
  bias.apply(c);
  EXPECT_EQ(c.size(), 3u);
  EXPECT_EQ(logit_of(c, 1), 4.0f);
  EXPECT_EQ(logit_of(c, 3), -kInf);
}

TEST(LogitBias, BigBiasSaturatesInsteadOfOverflowing) {
  LogitBias bias({{0, 3e38f}});
  Candidates c = candidates_of({3e38f, 0});
  bias.apply(c);
  EXPECT_EQ(logit_of(c, 0), std::numeric_limits<float>::max());
}

TEST(LogitBias, RejectsBadEntries) {
  GENARM_EXPECT_ERROR(LogitBias({{-1, 1.0f}}), ErrorCategory::kInvalidArgument,
                      "logit_bias token id -1");
  GENARM_EXPECT_ERROR(LogitBias({{1, std::nanf("")}}), ErrorCategory::kInvalidArgument, "token 1",
                      "nan");
  GENARM_EXPECT_ERROR(LogitBias({{1, kInf}}), ErrorCategory::kInvalidArgument, "token 1", "inf");
  GENARM_EXPECT_ERROR(LogitBias({{1, 1.0f}, {1, 2.0f}}), ErrorCategory::kInvalidArgument,
                      "token 1 more than once");
}

TEST(LogitBias, IdOutsideTheVocabularyIsReportedAtApply) {
  LogitBias bias({{1, 1.0f}, {7, 1.0f}});
  Candidates c = candidates_of({0, 0, 0});
  GENARM_EXPECT_ERROR(bias.apply(c), ErrorCategory::kInvalidArgument, "token id 7",
                      "vocabulary (size 3)");
}

TEST(LogitBias, CloneIsIndependentCopy) {
  LogitBias bias({{1, 2.0f}});
  const auto copy = bias.clone();
  Candidates c = candidates_of({0, 0});
  copy->apply(c);
  EXPECT_EQ(logit_of(c, 1), 2.0f);
  EXPECT_EQ(copy->name(), "logit_bias");
}

}  // namespace
}  // namespace genarm::sampling
