#include "genarm/core/rng.hpp"

#include <set>

#include "test_support.hpp"

namespace genarm {
namespace {

// Published vector of the reference xoshiro256** (state {1, 2, 3, 4}), as used by rand_xoshiro.
TEST(Rng, MatchesPublishedXoshiroVector) {
  Rng rng = Rng::from_state({1, 2, 3, 4});
  const uint64_t expected[] = {11520ULL,
                               0ULL,
                               1509978240ULL,
                               1215971899390074240ULL,
                               1216172134540287360ULL,
                               607988272756665600ULL,
                               16172922978634559625ULL,
                               8476171486693032832ULL,
                               10595114339597558777ULL,
                               2904607092377533576ULL};
  for (const uint64_t e : expected) EXPECT_EQ(rng.next(), e);
}

// splitmix64 from state 0 gives the well-known 0xe220a8397b1dcdaf, ...; seeding takes four of them.
TEST(Rng, SeedsThroughSplitmix64) {
  uint64_t sm = 0;
  EXPECT_EQ(detail::splitmix64_next(sm), 0xe220a8397b1dcdafULL);
  EXPECT_EQ(detail::splitmix64_next(sm), 0x6e789e6aa1b965f4ULL);
  EXPECT_EQ(detail::splitmix64_next(sm), 0x06c45d188009454fULL);
  EXPECT_EQ(detail::splitmix64_next(sm), 0xf88bb8a8724c81ecULL);
  const Rng::State expected{0xe220a8397b1dcdafULL, 0x6e789e6aa1b965f4ULL, 0x06c45d188009454fULL,
                            0xf88bb8a8724c81ecULL};
  EXPECT_EQ(Rng(0).state(), expected);
}

// Reference values from an independent Python transcription of the algorithm.
TEST(Rng, SeededDrawsMatchReference) {
  Rng a(0);
  EXPECT_EQ(a.next(), 0x99ec5f36cb75f2b4ULL);
  EXPECT_EQ(a.next(), 0xbf6e1f784956452aULL);
  EXPECT_EQ(a.next(), 0x1a5f849d4933e6e0ULL);
  EXPECT_EQ(a.next(), 0x6aa594f1262d2d2cULL);
  Rng b(42);
  EXPECT_EQ(b.next(), 0x15780b2e0c2ec716ULL);
  EXPECT_EQ(b.next(), 0x6104d9866d113a7eULL);
  EXPECT_EQ(b.next(), 0xae17533239e499a1ULL);
  EXPECT_EQ(b.next(), 0xecb8ad4703b360a1ULL);
}

TEST(Rng, UniformIsTop53BitsScaled) {
  Rng rng(0);
  // Exact: (next >> 11) * 2^-53 is representable, so equality is the right check.
  EXPECT_EQ(rng.uniform(), 0.6012629994179048);
  EXPECT_EQ(rng.uniform(), 0.7477740925472398);
  EXPECT_EQ(rng.uniform(), 0.10301998939503632);
  EXPECT_EQ(rng.uniform(), 0.4165890778296456);
  Rng other(42);
  EXPECT_EQ(other.uniform(), 0.08386297105988216);
  EXPECT_EQ(other.uniform(), 0.3789802506626686);
}

TEST(Rng, UniformStaysInHalfOpenUnitInterval) {
  Rng rng(123);
  double lo = 1.0;
  double hi = 0.0;
  double sum = 0.0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double u = rng.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    lo = std::min(lo, u);
    hi = std::max(hi, u);
    sum += u;
  }
  EXPECT_LT(lo, 1e-4);
  EXPECT_GT(hi, 1.0 - 1e-4);
  // Mean of n uniforms has sd 1/sqrt(12 n) ~ 6.5e-4; 6 sd is a tiny false-failure chance.
  EXPECT_NEAR(sum / n, 0.5, 6 * 6.5e-4);
}

TEST(Rng, BelowMatchesReferenceAndRange) {
  Rng a(0);
  const uint64_t expected_a[] = {0, 2, 8, 2, 7, 8, 4, 3};
  for (const uint64_t e : expected_a) EXPECT_EQ(a.below(10), e);
  Rng b(42);
  const uint64_t expected_b[] = {2, 2, 9, 3, 6, 4, 4, 7};
  for (const uint64_t e : expected_b) EXPECT_EQ(b.below(10), e);

  Rng c(5);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(c.below(1), 0u);
  int counts[3] = {0, 0, 0};
  for (int i = 0; i < 30000; ++i) ++counts[c.below(3)];
  for (const int k : counts) EXPECT_NEAR(k, 10000, 500);  // sd ~82
  // A bound close to 2^64 forces frequent rejection; results must stay in range.
  const uint64_t big = (uint64_t{1} << 63) + 12345;
  for (int i = 0; i < 1000; ++i) EXPECT_LT(c.below(big), big);
}

TEST(Rng, BelowZeroIsAnError) {
  Rng rng(1);
  GENARM_EXPECT_ERROR(rng.below(0), ErrorCategory::kInvalidArgument, "below", "n > 0");
}

TEST(Rng, SameSeedSameStreamDifferentSeedDifferentStream) {
  Rng a(99);
  Rng b(99);
  Rng c(100);
  int differ = 0;
  for (int i = 0; i < 100; ++i) {
    const uint64_t x = a.next();
    EXPECT_EQ(x, b.next());
    differ += x != c.next();
  }
  EXPECT_EQ(differ, 100);
}

TEST(Rng, CopyContinuesTheSameStream) {
  Rng a(7);
  a.next();
  Rng b = a;
  EXPECT_EQ(a, b);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(a.next(), b.next());
}

TEST(Rng, ForkIsDeterministicIndependentAndLeavesParentAlone) {
  const Rng parent(42);
  Rng f1 = parent.fork(1);
  EXPECT_EQ(f1.next(), 0xb2ec4bb3f56dcdf2ULL);
  EXPECT_EQ(f1.next(), 0xe932a10bb27847d8ULL);
  Rng f2 = parent.fork(2);
  EXPECT_EQ(f2.next(), 0xc077900f517db9d3ULL);
  EXPECT_EQ(parent, Rng(42));  // fork() is const and does not advance

  std::set<uint64_t> firsts;
  for (uint64_t s = 0; s < 64; ++s) firsts.insert(parent.fork(s).next());
  firsts.insert(Rng(42).next());
  EXPECT_EQ(firsts.size(), 65u);
}

TEST(Rng, FromStateRejectsAllZero) {
  GENARM_EXPECT_ERROR(Rng::from_state({0, 0, 0, 0}), ErrorCategory::kInvalidArgument, "all zero");
}

}  // namespace
}  // namespace genarm
