#include "genarm/sampling/top_p.hpp"

#include <algorithm>
#include <vector>

#include "sampling_helpers.hpp"
#include "test_support.hpp"

namespace genarm::sampling {
namespace {

using test::candidates_of;
using test::kept_ids;
using test::kInf;
using Ids = std::vector<int32_t>;

std::vector<float> four_logits_p() {  // probabilities 0.1 0.2 0.3 0.4
  return {std::log(0.1f), std::log(0.2f), std::log(0.3f), std::log(0.4f)};
}

TEST(TopP, KeepsTheSmallestSetReachingP) {
  struct Case {
    float p;
    Ids kept;
  };
  // Cumulative mass from the top: 0.4, 0.7, 0.9, 1.0 (the crossing token is kept).
  for (const Case& k :
       {Case{0.05f, {3}}, Case{0.35f, {3}}, Case{0.45f, {2, 3}}, Case{0.65f, {2, 3}},
        Case{0.75f, {1, 2, 3}}, Case{0.95f, {0, 1, 2, 3}}, Case{1.0f, {0, 1, 2, 3}}}) {
    Candidates c = candidates_of(four_logits_p());
    TopP(k.p).apply(c);
    EXPECT_EQ(kept_ids(c), k.kept) << "p " << k.p;
  }
  Candidates c = candidates_of(four_logits_p());
  TopP(0.65f).apply(c);
  const auto p = test::dense(c);
  EXPECT_NEAR(p[3], 4.0 / 7, 1e-6);
  EXPECT_NEAR(p[2], 3.0 / 7, 1e-6);
  EXPECT_TRUE(c.sorted());
}

TEST(TopP, MinKeepWins) {
  Candidates c = candidates_of(four_logits_p());
  TopP(0.1f, 3).apply(c);
  EXPECT_EQ(kept_ids(c), (Ids{1, 2, 3}));
}

TEST(TopP, IgnoresBannedTokens) {
  Candidates c = candidates_of({std::log(0.5f), -kInf, std::log(0.3f), -kInf, std::log(0.2f)});
  TopP(0.7f).apply(c);
  EXPECT_EQ(kept_ids(c), (Ids{0, 2}));
  EXPECT_EQ(c.size(), 2u);
}

// HF TopPLogitsWarper, literally: ascending sort, cumulative softmax, remove where <= 1 - p,
// always keep the last min_keep.
Ids reference_top_p(const std::vector<float>& logits, double p, size_t min_keep) {
  std::vector<float> as_float = logits;
  const std::vector<double> probs = test::softmax(as_float);
  const auto order = test::argsort(logits.size(), [&](size_t i) { return logits[i]; });
  std::vector<bool> removed(logits.size(), false);
  double cumulative = 0;
  for (size_t r = 0; r < order.size(); ++r) {
    cumulative += probs[order[r]];
    removed[order[r]] = cumulative <= 1 - p && r + min_keep < order.size();
  }
  Ids ids;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (!removed[i] && logits[i] > -kInf) ids.push_back(static_cast<int32_t>(i));
  }
  return ids;
}

// Sizes and scales that need zero, one and several widenings of the sorted prefix (256, 1024, ...).
TEST(TopP, MatchesNaiveReferenceOnRandomVocabularies) {
  uint64_t seed = 100;
  for (const size_t n : {1u, 3u, 60u, 300u, 5000u, 40000u}) {
    for (const double scale : {0.3, 2.0, 6.0}) {
      for (const float p : {0.1f, 0.5f, 0.9f, 0.99f}) {
        for (const size_t min_keep : {1u, 5u}) {
          const std::vector<float> logits = test::random_case(seed, n, scale, seed % 3 == 0);
          ++seed;
          for (const bool presorted : {false, true}) {
            Candidates c = candidates_of(logits);
            if (presorted) c.sort_descending();
            TopP(p, min_keep).apply(c);
            ASSERT_EQ(kept_ids(c), reference_top_p(logits, p, min_keep))
                << "n " << n << " scale " << scale << " p " << p << " min_keep " << min_keep;
            // Sorted output when the input was sorted or small (the histogram path does not sort).
            if ((presorted || n <= 1024) && n > min_keep) {
              ASSERT_TRUE(c.sorted());
            }
            if (c.sorted()) {
              ASSERT_TRUE(std::is_sorted(c.items().begin(), c.items().end(), ByLogitDescending{}));
            }
          }
        }
      }
    }
  }
}

// 3000 equal logits: every token has mass 1/3000 and they all share the histogram's first bucket.
// p = 0.5 keeps the first 1500 in the total order (ties by lower id).
TEST(TopP, TiesInsideTheCrossingBucketGoByLowerId) {
  Candidates c = candidates_of(std::vector<float>(3000, 0.25f));
  TopP(0.5f).apply(c);
  Ids expected(1500);
  for (int32_t i = 0; i < 1500; ++i) expected[static_cast<size_t>(i)] = i;
  EXPECT_EQ(kept_ids(c), expected);
}

// min_keep beyond the crossing bucket: the large-input path falls back to sorting.
TEST(TopP, LargeMinKeepOnALargeVocabulary) {
  const std::vector<float> logits = test::random_case(7, 5000, 4.0, true);
  Candidates c = candidates_of(logits);
  TopP(0.3f, 2000).apply(c);
  EXPECT_EQ(kept_ids(c), reference_top_p(logits, 0.3, 2000));
  EXPECT_EQ(c.size(), 2000u);
  EXPECT_TRUE(c.sorted());
}

TEST(TopP, ReservedAndCloned) {
  const std::vector<float> logits = test::random_case(8, 20000, 2.0, false);
  TopP reserved(0.9f);
  reserved.reserve(20000);
  const auto cloned = reserved.clone();
  Candidates a = candidates_of(logits);
  Candidates b = candidates_of(logits);
  reserved.apply(a);
  cloned->apply(b);
  EXPECT_EQ(kept_ids(a), kept_ids(b));
  EXPECT_EQ(kept_ids(a), reference_top_p(logits, 0.9, 1));
}

TEST(TopP, RejectsOutOfRange) {
  GENARM_EXPECT_ERROR(TopP(0.0f), ErrorCategory::kInvalidArgument, "top_p = 0", "(0, 1]");
  GENARM_EXPECT_ERROR(TopP(1.01f), ErrorCategory::kInvalidArgument, "top_p = 1.01");
  GENARM_EXPECT_ERROR(TopP(std::nanf("")), ErrorCategory::kInvalidArgument, "top_p = nan");
  GENARM_EXPECT_ERROR(TopP(0.5f, 0), ErrorCategory::kInvalidArgument, "min_keep");
  EXPECT_EQ(TopP(0.5f).clone()->name(), "top_p");
}

}  // namespace
}  // namespace genarm::sampling
