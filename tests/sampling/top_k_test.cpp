#include "genarm/sampling/top_k.hpp"

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

// Probabilities 0.1 0.2 0.3 0.4 (llama.cpp tests/test-sampling.cpp style).
std::vector<float> four_logits_k() {
  return {std::log(0.1f), std::log(0.2f), std::log(0.3f), std::log(0.4f)};
}

TEST(TopK, KeepsTheKBestRenormalised) {
  Candidates c = candidates_of(four_logits_k());
  TopK(3).apply(c);
  EXPECT_EQ(kept_ids(c), (Ids{1, 2, 3}));
  EXPECT_TRUE(c.sorted());
  EXPECT_EQ(c.items()[0].id, 3);
  const auto p = test::dense(c);
  EXPECT_NEAR(p[3], 4.0 / 9, 1e-6);
  EXPECT_NEAR(p[2], 3.0 / 9, 1e-6);
  EXPECT_NEAR(p[1], 2.0 / 9, 1e-6);
  EXPECT_EQ(p[0], 0.0);

  Candidates one = candidates_of(four_logits_k());
  TopK(1).apply(one);
  EXPECT_EQ(kept_ids(one), (Ids{3}));
  EXPECT_EQ(test::dense(one)[3], 1.0);
}

TEST(TopK, KLargerThanTheVocabularyKeepsAll) {
  Candidates c = candidates_of(four_logits_k());
  TopK(10).apply(c);
  EXPECT_EQ(c.size(), 4u);
}

TEST(TopK, KeepsTiesWithTheKthValue) {
  // HF keeps every score >= the k-th highest: k = 2 keeps the three 2.0's.
  for (const bool presorted : {false, true}) {
    Candidates c = candidates_of({2, 1, 3, 2, 0, 2});
    if (presorted) c.sort_descending();
    TopK(2).apply(c);
    EXPECT_EQ(kept_ids(c), (Ids{0, 2, 3, 5})) << presorted;
    // Sorted, ties by id.
    const Ids order{2, 0, 3, 5};
    for (size_t i = 0; i < order.size(); ++i) EXPECT_EQ(c.items()[i].id, order[i]);
  }
}

TEST(TopK, MinKeepRaisesK) {
  Candidates c = candidates_of(four_logits_k());
  TopK(1, 3).apply(c);
  EXPECT_EQ(kept_ids(c), (Ids{1, 2, 3}));
}

TEST(TopK, FewerFiniteThanKKeepsTheBans) {
  Candidates c = candidates_of({1, -kInf, -kInf, 2});
  TopK(3).apply(c);  // k-th value is -inf: everything ties with it (as in HF); still probability 0
  EXPECT_EQ(c.size(), 4u);
  EXPECT_EQ(kept_ids(c), (Ids{0, 3}));
}

// HF TopKLogitsWarper, literally: remove scores < the k-th largest.
Ids reference_top_k(const std::vector<float>& logits, int k) {
  std::vector<float> sorted = logits;
  std::sort(sorted.begin(), sorted.end(), std::greater<>());
  const float kth = sorted[std::min(static_cast<size_t>(k), sorted.size()) - 1];
  Ids ids;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (logits[i] >= kth && logits[i] > -kInf) ids.push_back(static_cast<int32_t>(i));
  }
  return ids;
}

TEST(TopK, MatchesNaiveReferenceOnRandomVocabularies) {
  uint64_t seed = 1;
  for (const size_t n : {1u, 7u, 100u, 4096u, 50000u}) {
    for (const int k : {1, 5, 40, 1000}) {
      for (const bool bans : {false, true}) {
        std::vector<float> logits = test::random_case(seed++, n, 3.0, bans);
        // Coarse rounding creates many exact ties.
        if (seed % 2)
          for (float& l : logits) l = std::round(l * 4) / 4;
        Candidates c = candidates_of(logits);
        TopK(k).apply(c);
        ASSERT_EQ(kept_ids(c), reference_top_k(logits, k)) << "n " << n << " k " << k;
        // Whenever something was removed the survivors come out sorted (with ties by id).
        if (c.size() < n) {
          ASSERT_TRUE(c.sorted());
        }
        if (c.sorted()) {
          ASSERT_TRUE(std::is_sorted(c.items().begin(), c.items().end(), ByLogitDescending{}));
        }
      }
    }
  }
}

TEST(TopK, RejectsNonPositiveK) {
  GENARM_EXPECT_ERROR(TopK(0), ErrorCategory::kInvalidArgument, "top_k = 0");
  GENARM_EXPECT_ERROR(TopK(-2), ErrorCategory::kInvalidArgument, "top_k = -2");
  GENARM_EXPECT_ERROR(TopK(2, 0), ErrorCategory::kInvalidArgument, "min_keep");
  EXPECT_EQ(TopK(3).clone()->name(), "top_k");
}

}  // namespace
}  // namespace genarm::sampling
