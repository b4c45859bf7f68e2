// The selecting processors, which end a chain: Greedy (argmax) and Distribution (a seeded draw).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "genarm/core/error.hpp"
#include "genarm/core/rng.hpp"
#include "genarm/sampling/candidates.hpp"
#include "genarm/sampling/processor.hpp"

namespace genarm::sampling {

// Greedy decoding: selects the candidate with the highest logit, ties to the lowest id, in one
// O(size) pass (no sort, no exp). Fails with "no token has finite logit" if all are -inf.
// Stateless: apply() on different Candidates may run concurrently.
class Greedy final : public Processor {
 public:
  std::string_view name() const override { return "greedy"; }

  void apply(Candidates& candidates) override {
    const std::span<const TokenLogit> items = candidates.items();
    if (items.empty()) fail(ErrorCategory::kInvalidArgument, "greedy: no candidates left");
    // The max first (a fast reduction), then the lowest id holding it: four branch-free running
    // minima (conditional moves), as in max_logit.
    const float max = detail::max_logit(items);
    if (max == detail::kNegInf) detail::fail_no_finite_logit(items.size());
    constexpr int32_t kNone = std::numeric_limits<int32_t>::max();
    const auto id_if_max = [max](const TokenLogit& t) { return t.logit == max ? t.id : kNone; };
    int32_t b0 = kNone, b1 = kNone, b2 = kNone, b3 = kNone;
    const size_t n = items.size();
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
      b0 = std::min(b0, id_if_max(items[i]));
      b1 = std::min(b1, id_if_max(items[i + 1]));
      b2 = std::min(b2, id_if_max(items[i + 2]));
      b3 = std::min(b3, id_if_max(items[i + 3]));
    }
    for (; i < n; ++i) b0 = std::min(b0, id_if_max(items[i]));
    candidates.select(std::min(std::min(b0, b1), std::min(b2, b3)));
  }

  std::unique_ptr<Processor> clone() const override { return std::make_unique<Greedy>(*this); }
};

// Samples a candidate from softmax(logits) with a seeded genarm::Rng: one uniform draw u per step,
// then the first candidate (in the array's current order) whose cumulative probability exceeds u.
// Needs no sorting: plain sampling over a large vocabulary is a few linear passes. Every step
// consumes exactly one draw whatever the candidates, so streams stay aligned across filter
// settings. reset() does NOT rewind the stream (a new sequence gets new draws); reseed() restarts
// it. Owns its Rng and a weight buffer (sized by reserve() or on first use); clone() copies the
// stream position. Not thread-safe (one per sequence).
class Distribution final : public Processor {
 public:
  explicit Distribution(uint64_t seed) : rng_(seed) {}
  explicit Distribution(const Rng& rng) : rng_(rng) {}

  void reseed(uint64_t seed) { rng_ = Rng(seed); }
  Rng& rng() { return rng_; }
  const Rng& rng() const { return rng_; }

  std::string_view name() const override { return "distribution"; }

  void reserve(size_t vocab_size) override {
    if (weights_.size() < vocab_size) {
      weights_.resize(vocab_size);
      block_sums_.resize(vocab_size / kBlock + 1);
    }
  }

  void apply(Candidates& candidates) override {
    const std::span<const TokenLogit> items = candidates.items();
    const size_t n = items.size();
    if (n == 0) fail(ErrorCategory::kInvalidArgument, "distribution: no candidates left");
    reserve(n);
    const float max = detail::exp_weights(items, weights_.data());
    if (max == detail::kNegInf) detail::fail_no_finite_logit(n);
    const double u = rng_.uniform();

    // Cumulative walk in two levels: sums of blocks of 64 weights (vectorised), then one block
    // element by element. A plain running sum would be one dependent add per candidate.
    const size_t blocks = (n + kBlock - 1) / kBlock;
    double total = 0.0;
    for (size_t b = 0; b < blocks; ++b) {
      block_sums_[b] = detail::sum(weights_.data() + b * kBlock, std::min(kBlock, n - b * kBlock));
      total += block_sums_[b];
    }
    const double target = u * total;  // draw the first candidate whose cumulative weight exceeds it
    double cumulative = 0.0;
    size_t b = 0;
    while (b < blocks && cumulative + block_sums_[b] <= target) cumulative += block_sums_[b++];
    const size_t end = b < blocks ? std::min(n, (b + 1) * kBlock) : n;
    size_t chosen = end;
    for (size_t i = b * kBlock; i < end; ++i) {
      cumulative += weights_[i];
      if (cumulative > target) {
        chosen = i;
        break;
      }
    }
    if (chosen == end) {
      // Rounding left the sum a hair short of the target: take the last candidate with weight,
      // scanning back from where the walk stopped (the max, with weight 1, bounds the scan).
      chosen = end - 1;
      while (weights_[chosen] == 0.0) --chosen;
    }
    const TokenLogit& t = items[chosen];
    candidates.select(t.id,
                      static_cast<double>(t.logit) - (static_cast<double>(max) + std::log(total)));
  }

  std::unique_ptr<Processor> clone() const override {
    return std::make_unique<Distribution>(*this);
  }

 private:
  static constexpr size_t kBlock = 64;

  Rng rng_;
  std::vector<double> weights_;     // (vocab) exp(logit - max), item order
  std::vector<double> block_sums_;  // (vocab / 64 + 1) sums of consecutive blocks of weights_
};

}  // namespace genarm::sampling
