// genarm::sampling::detail::MassHistogram — where does accumulated probability mass cross a
// target, without sorting the vocabulary?
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace genarm::sampling::detail {

// Answers "taking items in increasing key order, at which item does the accumulated weight first
// reach `target`?" in O(n): keys are bucketed (32 buckets per unit over [0, 64), one overflow
// bucket for the rest), weights are summed per bucket, and the caller then only has to sort the one
// bucket that contains the crossing. TopP uses key = max_logit - logit (so buckets are 1/32 nat
// wide) and Typical key = |surprisal - entropy|. For a 128k vocabulary the crossing bucket holds a
// few hundred to a few thousand tokens, against a full O(V log V) sort.
// Owns its per-item bucket indices (sized by reserve() or on first use). Not thread-safe.
class MassHistogram {
 public:
  static constexpr double kBucketsPerUnit = 32;
  static constexpr double kRange = 64;  // keys >= kRange share the overflow bucket
  static constexpr size_t kBuckets = static_cast<size_t>(kRange * kBucketsPerUnit) + 1;

  struct Crossing {
    size_t bucket;        // the bucket holding the item whose weight reaches the target
    double mass_before;   // total weight of the buckets before it
    size_t count_before;  // number of items in the buckets before it
    size_t count_in;      // number of items in it
  };

  void reserve(size_t n) {
    if (bucket_.size() < n) bucket_.resize(n);
  }

  // Monotone in the key, and the same function in every pass, so an item's bucket never depends on
  // which loop computed it. Keys must be >= 0 (NaN is not allowed); +inf goes to the overflow.
  static uint16_t bucket_of(double key) {
    if (!(key > 0)) return 0;
    return key < kRange ? static_cast<uint16_t>(key * kBucketsPerUnit)
                        : static_cast<uint16_t>(kBuckets - 1);
  }

  // Buckets items 0..n-1 (key(i), weights[i] >= 0), remembering each item's bucket, and returns the
  // first bucket at which the weight accumulated in bucket order reaches `target` (if rounding
  // leaves the total just short of it, the last non-empty bucket).
  template <typename Key>
  Crossing locate(size_t n, Key key, const double* weights, double target) {
    reserve(n);
    mass_.fill(0.0);
    count_.fill(0);
    for (size_t i = 0; i < n; ++i) {
      const uint16_t b = bucket_of(key(i));
      bucket_[i] = b;
      mass_[b] += weights[i];
      ++count_[b];
    }
    double before = 0.0;
    size_t count_before = 0;
    Crossing last{0, 0.0, 0, 0};
    for (size_t b = 0; b < kBuckets; ++b) {
      if (count_[b] == 0) continue;
      const Crossing here{b, before, count_before, count_[b]};
      if (before + mass_[b] >= target) return here;
      last = here;
      before += mass_[b];
      count_before += count_[b];
    }
    return last;
  }

  // Bucket of item i as of the last locate().
  uint16_t bucket(size_t i) const { return bucket_[i]; }

 private:
  std::array<double, kBuckets> mass_{};
  std::array<uint32_t, kBuckets> count_{};
  std::vector<uint16_t> bucket_;  // (items) bucket of each item
};

}  // namespace genarm::sampling::detail
