#include "genarm/sampling/typical.hpp"

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

std::vector<float> logs(const std::vector<float>& probs) {
  std::vector<float> out;
  for (const float p : probs) out.push_back(std::log(p));
  return out;
}

// Probabilities 0.4 0.2 0.2 0.2: H = 1.332; the 0.2 tokens (surprisal 1.609, distance 0.277) are
// more typical than the 0.4 one (surprisal 0.916, distance 0.416). With p = 0.5 the three 0.2
// tokens reach the mass first: the most likely token is dropped.
TEST(Typical, CanDropTheMostLikelyToken) {
  Candidates c = candidates_of(logs({0.4f, 0.2f, 0.2f, 0.2f}));
  Typical(0.5f).apply(c);
  EXPECT_EQ(kept_ids(c), (Ids{1, 2, 3}));
  const auto p = test::dense(c);
  EXPECT_NEAR(p[1], 1.0 / 3, 1e-6);
  EXPECT_EQ(p[0], 0.0);
}

// Probabilities 0.97 0.01 0.01 0.01: token 0 is the most typical; p = 0.5 keeps it alone, p = 0.985
// needs one 0.01 token and therefore keeps all three (they tie in distance).
TEST(Typical, KeepsTiesWithTheCrossingToken) {
  Candidates a = candidates_of(logs({0.97f, 0.01f, 0.01f, 0.01f}));
  Typical(0.5f).apply(a);
  EXPECT_EQ(kept_ids(a), (Ids{0}));
  Candidates b = candidates_of(logs({0.97f, 0.01f, 0.01f, 0.01f}));
  Typical(0.985f).apply(b);
  EXPECT_EQ(kept_ids(b), (Ids{0, 1, 2, 3}));
}

TEST(Typical, MinKeepAndBans) {
  Candidates c = candidates_of({std::log(0.97f), std::log(0.02f), -kInf, std::log(0.01f)});
  Typical(0.5f, 2).apply(c);
  EXPECT_EQ(kept_ids(c), (Ids{0, 1}));
  EXPECT_EQ(c.size(), 2u);
}

TEST(Typical, OneKeepsEverythingAndOrderIsPreserved) {
  Candidates c = candidates_of(logs({0.4f, 0.2f, 0.2f, 0.2f}));
  Typical(1.0f).apply(c);
  EXPECT_EQ(c.size(), 4u);
  Candidates s = candidates_of(logs({0.2f, 0.4f, 0.2f, 0.2f}));
  s.sort_descending();
  Typical(0.5f).apply(s);
  EXPECT_TRUE(s.sorted());
  const Ids order{0, 2, 3};
  for (size_t i = 0; i < order.size(); ++i) EXPECT_EQ(s.items()[i].id, order[i]);
}

// HF TypicalLogitsWarper, literally.
Ids reference_typical(const std::vector<float>& logits, double mass, size_t min_keep) {
  const size_t n = logits.size();
  const std::vector<double> probs = test::softmax(logits);
  double entropy = 0;
  for (size_t i = 0; i < n; ++i) {
    if (probs[i] > 0) entropy -= probs[i] * std::log(probs[i]);
  }
  std::vector<double> shifted(n);
  for (size_t i = 0; i < n; ++i) {
    shifted[i] = probs[i] > 0 ? std::abs(-std::log(probs[i]) - entropy)
                              : std::numeric_limits<double>::infinity();
  }
  const auto order = test::argsort(n, [&](size_t i) { return shifted[i]; });
  size_t last = 0;
  double cumulative = 0;
  for (size_t r = 0; r < n; ++r) {
    cumulative += probs[order[r]];
    if (cumulative < mass) last = r + 1;
  }
  last = std::min(last, n - 1);
  Ids ids;
  for (size_t r = 0; r < n; ++r) {
    const size_t i = order[r];
    const bool keep = !(shifted[i] > shifted[order[last]]) || r < min_keep;
    if (keep && logits[i] > -kInf) ids.push_back(static_cast<int32_t>(i));
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

TEST(Typical, MatchesNaiveReferenceOnRandomVocabularies) {
  uint64_t seed = 300;
  for (const size_t n : {1u, 4u, 80u, 700u, 6000u, 30000u}) {
    for (const double scale : {0.5, 2.0, 5.0}) {
      for (const float p : {0.2f, 0.9f, 0.99f}) {
        const std::vector<float> logits = test::random_case(seed, n, scale, seed % 2 == 0);
        ++seed;
        Candidates c = candidates_of(logits);
        Typical t(p);
        t.apply(c);
        ASSERT_EQ(kept_ids(c), reference_typical(logits, p, 1))
            << "n " << n << " scale " << scale << " p " << p;
      }
    }
  }
}

TEST(Typical, MinKeepOnLargeVocabularies) {
  for (const size_t min_keep : {3u, 50u, 4000u}) {
    const std::vector<float> logits = test::random_case(11 + min_keep, 6000, 3.0, true);
    Candidates c = candidates_of(logits);
    Typical(0.4f, min_keep).apply(c);
    EXPECT_EQ(kept_ids(c), reference_typical(logits, 0.4, min_keep)) << "min_keep " << min_keep;
  }
}

TEST(Typical, ReservedAndUnreservedAgreeAndCloneWorks) {
  const std::vector<float> logits = test::random_case(9, 2000, 2.0, false);
  Typical reserved(0.8f);
  reserved.reserve(2000);
  const auto cloned = reserved.clone();
  Candidates a = candidates_of(logits);
  Candidates b = candidates_of(logits);
  reserved.apply(a);
  cloned->apply(b);
  EXPECT_EQ(kept_ids(a), kept_ids(b));
  EXPECT_EQ(cloned->name(), "typical");
}

TEST(Typical, RejectsOutOfRange) {
  GENARM_EXPECT_ERROR(Typical(0.0f), ErrorCategory::kInvalidArgument, "typical_p = 0");
  GENARM_EXPECT_ERROR(Typical(2.0f), ErrorCategory::kInvalidArgument, "typical_p = 2");
  GENARM_EXPECT_ERROR(Typical(0.5f, 0), ErrorCategory::kInvalidArgument, "min_keep");
}

}  // namespace
}  // namespace genarm::sampling
