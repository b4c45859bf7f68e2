#include "genarm/sampling/mass_histogram.hpp"

#include <algorithm>
#include <limits>
#include <vector>

#include "genarm/core/rng.hpp"
#include "test_support.hpp"

namespace genarm::sampling::detail {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

TEST(MassHistogram, BucketsAreMonotoneAndBounded) {
  EXPECT_EQ(MassHistogram::bucket_of(0.0), 0);
  EXPECT_EQ(MassHistogram::bucket_of(-1.0), 0);  // defensive: never below the first bucket
  EXPECT_EQ(MassHistogram::bucket_of(1.0 / 64), 0);
  EXPECT_EQ(MassHistogram::bucket_of(1.0 / 32), 1);
  EXPECT_EQ(MassHistogram::bucket_of(63.99), 2047);
  EXPECT_EQ(MassHistogram::bucket_of(64.0), MassHistogram::kBuckets - 1);
  EXPECT_EQ(MassHistogram::bucket_of(kInfinity), MassHistogram::kBuckets - 1);
  uint16_t previous = 0;
  for (double key = 0; key < 70; key += 0.001) {
    const uint16_t b = MassHistogram::bucket_of(key);
    ASSERT_GE(b, previous) << key;
    previous = b;
  }
}

TEST(MassHistogram, LocatesTheBucketWhereTheMassCrosses) {
  // keys 0.1, 0.5, 0.51, 3, inf with weights 1, 2, 3, 4, 5: buckets 3, 16, 16, 96, overflow.
  const std::vector<double> keys{0.5, 3.0, 0.1, kInfinity, 0.51};
  const std::vector<double> weights{2, 4, 1, 5, 3};
  MassHistogram h;
  const auto key = [&](size_t i) { return keys[i]; };
  auto c = h.locate(5, key, weights.data(), 0.5);
  EXPECT_EQ(c.bucket, 3u);
  EXPECT_EQ(c.mass_before, 0.0);
  EXPECT_EQ(c.count_before, 0u);
  EXPECT_EQ(c.count_in, 1u);
  c = h.locate(5, key, weights.data(), 1.0);  // reached exactly by the first bucket
  EXPECT_EQ(c.bucket, 3u);
  c = h.locate(5, key, weights.data(), 4.0);
  EXPECT_EQ(c.bucket, 16u);
  EXPECT_EQ(c.mass_before, 1.0);
  EXPECT_EQ(c.count_before, 1u);
  EXPECT_EQ(c.count_in, 2u);
  c = h.locate(5, key, weights.data(), 14.5);
  EXPECT_EQ(c.bucket, MassHistogram::kBuckets - 1);
  EXPECT_EQ(c.mass_before, 10.0);
  EXPECT_EQ(h.bucket(3), MassHistogram::kBuckets - 1);
  EXPECT_EQ(h.bucket(2), 3);
  // A target above the total (rounding) gives the last non-empty bucket.
  c = h.locate(5, key, weights.data(), 100.0);
  EXPECT_EQ(c.bucket, MassHistogram::kBuckets - 1);
  EXPECT_EQ(c.count_before, 4u);
}

// Against a brute force: sort by key, walk the mass, the crossing item must sit in the bucket
// found, and the counts and mass before it must match.
TEST(MassHistogram, AgreesWithSortingOnRandomInputs) {
  Rng rng(17);
  MassHistogram h;
  for (int trial = 0; trial < 200; ++trial) {
    const size_t n = 1 + rng.below(3000);
    std::vector<double> keys(n);
    std::vector<double> weights(n);
    for (size_t i = 0; i < n; ++i) {
      keys[i] = rng.uniform() * (trial % 2 ? 80.0 : 4.0);
      weights[i] = rng.uniform();
    }
    double total = 0;
    for (const double w : weights) total += w;
    const double target = rng.uniform() * total;
    const auto c = h.locate(
        n, [&](size_t i) { return keys[i]; }, weights.data(), target);

    std::vector<size_t> order(n);
    for (size_t i = 0; i < n; ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return keys[a] < keys[b]; });
    double mass = 0;
    size_t crossing = order.back();
    for (const size_t i : order) {
      mass += weights[i];
      if (mass >= target) {
        crossing = i;
        break;
      }
    }
    ASSERT_EQ(MassHistogram::bucket_of(keys[crossing]), c.bucket) << "trial " << trial;
    size_t before = 0;
    double mass_before = 0;
    for (size_t i = 0; i < n; ++i) {
      if (h.bucket(i) < c.bucket) {
        ++before;
        mass_before += weights[i];
      }
    }
    ASSERT_EQ(before, c.count_before);
    ASSERT_NEAR(mass_before, c.mass_before, 1e-9 * total);
  }
}

}  // namespace
}  // namespace genarm::sampling::detail
