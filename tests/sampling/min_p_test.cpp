#include "genarm/sampling/min_p.hpp"

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

std::vector<float> four() {  // probabilities 0.1 0.2 0.3 0.4
  return {std::log(0.1f), std::log(0.2f), std::log(0.3f), std::log(0.4f)};
}

TEST(MinP, KeepsTokensAboveAFractionOfTheBest) {
  struct Case {
    float p;
    Ids kept;
  };
  // Thresholds p * 0.4: 0.76 -> 0.304, 0.7 -> 0.28, 0.49 -> 0.196, 0.2 -> 0.08.
  for (const Case& k : {Case{0.76f, {3}}, Case{0.7f, {2, 3}}, Case{0.49f, {1, 2, 3}},
                        Case{0.2f, {0, 1, 2, 3}}, Case{1.0f, {3}}}) {
    Candidates c = candidates_of(four());
    MinP(k.p).apply(c);
    EXPECT_EQ(kept_ids(c), k.kept) << "p " << k.p;
  }
  Candidates c = candidates_of(four());
  MinP(0.7f).apply(c);
  const auto p = test::dense(c);
  EXPECT_NEAR(p[3], 4.0 / 7, 1e-6);
  EXPECT_NEAR(p[2], 3.0 / 7, 1e-6);
}

TEST(MinP, KeepsOrderAndSortedness) {
  Candidates c = candidates_of({std::log(0.3f), std::log(0.05f), std::log(0.4f), std::log(0.25f)});
  MinP(0.7f).apply(c);  // threshold 0.7 * 0.4 = 0.28
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c.items()[0].id, 0);  // original order kept
  EXPECT_EQ(c.items()[1].id, 2);
  Candidates s = candidates_of({std::log(0.3f), std::log(0.05f), std::log(0.4f), std::log(0.25f)});
  s.sort_descending();
  MinP(0.7f).apply(s);
  EXPECT_TRUE(s.sorted());
  EXPECT_EQ(s.items()[0].id, 2);
}

TEST(MinP, MinKeepKeepsTheBest) {
  Candidates c = candidates_of(four());
  MinP(0.9f, 2).apply(c);
  EXPECT_EQ(kept_ids(c), (Ids{2, 3}));
  EXPECT_TRUE(c.sorted());
}

TEST(MinP, ZeroKeepsEverythingAndBansAreDropped) {
  Candidates c = candidates_of({1, -kInf, 2});
  MinP(0.0f).apply(c);
  EXPECT_EQ(c.size(), 3u);
  MinP(0.01f).apply(c);
  EXPECT_EQ(c.size(), 2u);
  EXPECT_EQ(kept_ids(c), (Ids{0, 2}));
}

// HF MinPLogitsWarper, literally: remove probs < min_p * max prob; keep the min_keep best.
Ids reference_min_p(const std::vector<float>& logits, double p, size_t min_keep) {
  const std::vector<double> probs = test::softmax(logits);
  const double top = *std::max_element(probs.begin(), probs.end());
  const auto order = test::argsort(logits.size(), [&](size_t i) { return -probs[i]; });
  Ids ids;
  for (size_t i = 0; i < logits.size(); ++i) {
    const bool forced =
        std::find(order.begin(),
                  order.begin() + static_cast<std::ptrdiff_t>(std::min(min_keep, order.size())),
                  i) !=
        order.begin() + static_cast<std::ptrdiff_t>(std::min(min_keep, order.size()));
    if ((probs[i] >= p * top || forced) && logits[i] > -kInf)
      ids.push_back(static_cast<int32_t>(i));
  }
  return ids;
}

TEST(MinP, MatchesNaiveReferenceOnRandomVocabularies) {
  uint64_t seed = 200;
  for (const size_t n : {1u, 5u, 100u, 3000u, 30000u}) {
    for (const double scale : {0.5, 3.0}) {
      for (const float p : {0.01f, 0.1f, 0.5f, 0.95f}) {
        for (const size_t min_keep : {1u, 4u}) {
          const std::vector<float> logits = test::random_case(seed, n, scale, seed % 2 == 0);
          ++seed;
          Candidates c = candidates_of(logits);
          MinP(p, min_keep).apply(c);
          ASSERT_EQ(kept_ids(c), reference_min_p(logits, p, min_keep))
              << "n " << n << " scale " << scale << " p " << p;
        }
      }
    }
  }
}

TEST(MinP, RejectsOutOfRange) {
  GENARM_EXPECT_ERROR(MinP(-0.5f), ErrorCategory::kInvalidArgument, "min_p = -0.5", "[0, 1]");
  GENARM_EXPECT_ERROR(MinP(1.5f), ErrorCategory::kInvalidArgument, "min_p = 1.5");
  GENARM_EXPECT_ERROR(MinP(0.1f, 0), ErrorCategory::kInvalidArgument, "min_keep");
  EXPECT_EQ(MinP(0.1f).clone()->name(), "min_p");
}

}  // namespace
}  // namespace genarm::sampling
