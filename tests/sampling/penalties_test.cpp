#include "genarm/sampling/penalties.hpp"

#include <algorithm>
#include <vector>

#include "sampling_helpers.hpp"
#include "test_support.hpp"

namespace genarm::sampling {
namespace {

using test::candidates_of;
using test::kInf;
using test::logit_of;

std::vector<int32_t> sorted_distinct(const TokenWindow& w) {
  std::vector<int32_t> ids(w.distinct().begin(), w.distinct().end());
  std::sort(ids.begin(), ids.end());
  return ids;
}

TEST(TokenWindow, CountsEverythingWithoutAWindow) {
  TokenWindow w;
  for (const int32_t t : {3, 1, 3, 7, 3}) w.push(t);
  EXPECT_EQ(w.count(3), 3);
  EXPECT_EQ(w.count(1), 1);
  EXPECT_EQ(w.count(7), 1);
  EXPECT_EQ(w.count(2), 0);
  EXPECT_EQ(w.count(1000), 0);
  EXPECT_EQ(sorted_distinct(w), (std::vector<int32_t>{1, 3, 7}));
  w.clear();
  EXPECT_TRUE(w.distinct().empty());
  EXPECT_EQ(w.count(3), 0);
}

TEST(TokenWindow, ForgetsTokensThatLeaveTheWindow) {
  TokenWindow w(3);
  for (const int32_t t : {5, 6, 5, 7}) w.push(t);  // window now 6 5 7
  EXPECT_EQ(w.count(5), 1);
  EXPECT_EQ(w.count(6), 1);
  EXPECT_EQ(w.count(7), 1);
  w.push(8);  // 5 7 8
  EXPECT_EQ(w.count(6), 0);
  EXPECT_EQ(sorted_distinct(w), (std::vector<int32_t>{5, 7, 8}));
  w.push(9);  // 7 8 9
  w.push(9);  // 8 9 9
  EXPECT_EQ(w.count(9), 2);
  EXPECT_EQ(sorted_distinct(w), (std::vector<int32_t>{8, 9}));
  w.clear();
  w.push(1);
  EXPECT_EQ(sorted_distinct(w), (std::vector<int32_t>{1}));
}

// Brute-force comparison with a recount of the last `window` tokens over a long random stream.
TEST(TokenWindow, MatchesARecountOfTheLastTokens) {
  Rng rng(3);
  TokenWindow w(17);
  std::vector<int32_t> stream;
  for (int step = 0; step < 2000; ++step) {
    const auto t = static_cast<int32_t>(rng.below(40));
    w.push(t);
    stream.push_back(t);
    const size_t from = stream.size() > 17 ? stream.size() - 17 : 0;
    for (int32_t id = 0; id < 40; ++id) {
      const auto expected =
          std::count(stream.begin() + static_cast<std::ptrdiff_t>(from), stream.end(), id);
      ASSERT_EQ(w.count(id), expected) << "step " << step << " id " << id;
    }
    std::vector<int32_t> distinct = sorted_distinct(w);
    ASSERT_EQ(std::adjacent_find(distinct.begin(), distinct.end()), distinct.end());
    for (const int32_t id : distinct) ASSERT_GT(w.count(id), 0);
  }
}

TEST(TokenWindow, RejectsIdsOutsideTheVocabulary) {
  TokenWindow w;
  GENARM_EXPECT_ERROR(w.push(-1), ErrorCategory::kInvalidArgument, "token id -1");
  w.reserve(10);
  w.push(9);
  GENARM_EXPECT_ERROR(w.push(10), ErrorCategory::kInvalidArgument, "token id 10",
                      "vocabulary (size 10)");
}

// HF RepetitionPenaltyLogitsProcessor: negative logits are multiplied, others divided, once per
// distinct token however often it occurred.
TEST(RepetitionPenalty, DividesPositiveAndMultipliesNegativeOncePerToken) {
  RepetitionPenalty rp(2.0f);
  for (const int32_t t : {0, 1, 1, 1, 4, 5}) rp.accept(t);
  Candidates c = candidates_of({2.0f, -2.0f, 1.0f, 0.5f, 0.0f, -kInf});
  c.set_sorted(true);  // pretend: penalties must clear it
  rp.apply(c);
  EXPECT_EQ(logit_of(c, 0), 1.0f);
  EXPECT_EQ(logit_of(c, 1), -4.0f);
  EXPECT_EQ(logit_of(c, 2), 1.0f);
  EXPECT_EQ(logit_of(c, 3), 0.5f);
  EXPECT_EQ(logit_of(c, 4), 0.0f);
  EXPECT_EQ(logit_of(c, 5), -kInf);  // a banned token stays banned
  EXPECT_FALSE(c.sorted());
}

TEST(RepetitionPenalty, PenaltyBelowOneEncouragesRepeats) {
  RepetitionPenalty rp(0.5f);
  rp.accept(0);
  rp.accept(1);
  Candidates c = candidates_of({1.0f, -1.0f, 0.25f});
  rp.apply(c);
  EXPECT_EQ(logit_of(c, 0), 2.0f);
  EXPECT_EQ(logit_of(c, 1), -0.5f);
  EXPECT_EQ(logit_of(c, 2), 0.25f);
}

TEST(RepetitionPenalty, WindowOnlyCountsRecentTokens) {
  RepetitionPenalty rp(2.0f, 2);
  for (const int32_t t : {0, 1, 2}) rp.accept(t);
  Candidates c = candidates_of({4, 4, 4, 4});
  rp.apply(c);
  EXPECT_EQ(logit_of(c, 0), 4.0f);
  EXPECT_EQ(logit_of(c, 1), 2.0f);
  EXPECT_EQ(logit_of(c, 2), 2.0f);
  EXPECT_EQ(logit_of(c, 3), 4.0f);
}

TEST(RepetitionPenalty, WorksOnReorderedAndFilteredCandidates) {
  RepetitionPenalty rp(4.0f);
  for (const int32_t t : {0, 2, 3}) rp.accept(t);
  Candidates c = candidates_of({8, 1, 6, 4});
  c.sort_descending();
  c.truncate(3);  // token 1 removed; candidate i is no longer token i
  rp.apply(c);
  EXPECT_EQ(c.size(), 3u);
  EXPECT_EQ(logit_of(c, 0), 2.0f);
  EXPECT_EQ(logit_of(c, 2), 1.5f);
  EXPECT_EQ(logit_of(c, 3), 1.0f);
}

TEST(RepetitionPenalty, ResetCloneAndFiniteness) {
  RepetitionPenalty rp(1e-30f);  // tiny penalty: 1e30 / 1e-30 would overflow float
  rp.accept(0);
  auto copy = rp.clone();
  rp.reset();
  Candidates c = candidates_of({1e30f, 1.0f});
  rp.apply(c);
  EXPECT_EQ(logit_of(c, 0), 1e30f);  // history forgotten
  copy->apply(c);                    // the clone kept it
  EXPECT_EQ(logit_of(c, 0), std::numeric_limits<float>::max());
  EXPECT_EQ(copy->name(), "repetition_penalty");
}

TEST(RepetitionPenalty, RejectsNonPositivePenalty) {
  GENARM_EXPECT_ERROR(RepetitionPenalty(0.0f), ErrorCategory::kInvalidArgument,
                      "repetition_penalty = 0");
  GENARM_EXPECT_ERROR(RepetitionPenalty(-1.5f), ErrorCategory::kInvalidArgument,
                      "repetition_penalty = -1.5");
  GENARM_EXPECT_ERROR(RepetitionPenalty{kInf}, ErrorCategory::kInvalidArgument,
                      "repetition_penalty = inf");
}

TEST(RepetitionPenalty, ReserveBoundsAcceptedIds) {
  RepetitionPenalty rp(1.5f);
  rp.reserve(100);
  GENARM_EXPECT_ERROR(rp.accept(100), ErrorCategory::kInvalidArgument, "token id 100");
}

// OpenAI: logit -= count * frequency + (count > 0) * presence.
TEST(FrequencyPresencePenalty, SubtractsCountTimesFrequencyPlusPresence) {
  FrequencyPresencePenalty fp(0.5f, 1.0f);
  for (const int32_t t : {3, 3, 3, 5}) fp.accept(t);
  Candidates c = candidates_of({0, 0, 0, 0, 0, 0});
  fp.apply(c);
  EXPECT_EQ(logit_of(c, 3), -2.5f);
  EXPECT_EQ(logit_of(c, 5), -1.5f);
  for (const int32_t id : {0, 1, 2, 4}) EXPECT_EQ(logit_of(c, id), 0.0f);
}

TEST(FrequencyPresencePenalty, WindowAndNegativeValues) {
  FrequencyPresencePenalty fp(-1.0f, 0.0f, 2);        // negative frequency rewards repeats
  for (const int32_t t : {3, 3, 3, 5}) fp.accept(t);  // window: 3 5
  Candidates c = candidates_of({0, 0, 0, 0, 0, 0});
  fp.apply(c);
  EXPECT_EQ(logit_of(c, 3), 1.0f);
  EXPECT_EQ(logit_of(c, 5), 1.0f);
  fp.reset();
  Candidates d = candidates_of({0, 0, 0, 0, 0, 0});
  fp.apply(d);
  EXPECT_EQ(logit_of(d, 3), 0.0f);
}

TEST(FrequencyPresencePenalty, RejectsNonFiniteValues) {
  GENARM_EXPECT_ERROR(FrequencyPresencePenalty(kInf, 0), ErrorCategory::kInvalidArgument,
                      "frequency_penalty = inf");
  GENARM_EXPECT_ERROR(FrequencyPresencePenalty(0, std::nanf("")), ErrorCategory::kInvalidArgument,
                      "presence_penalty = nan");
}

}  // namespace
}  // namespace genarm::sampling
