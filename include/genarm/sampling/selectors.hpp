// The selecting processors, which end a chain: Greedy (argmax) and Distribution (a seeded draw).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "genarm/core/error.hpp"
#include "genarm/core/rng.hpp"
#include "genarm/sampling/candidates.hpp"
#include "genarm/sampling/processor.hpp"

namespace genarm::sampling {

// Greedy decoding: selects the candidate with the highest logit, ties to the lowest id, in one
// O(size) pass (no sort, no exp). Fails with "no token has finite logit" if all are -inf.
// Stateless. Not thread-safe (trivially: no shared state).
class Greedy final : public Processor {
 public:
  std::string_view name() const override { return "greedy"; }

  void apply(Candidates& candidates) override {
    const std::span<const TokenLogit> items = candidates.items();
    if (items.empty()) fail(ErrorCategory::kInvalidArgument, "greedy: no candidates left");
    TokenLogit best = items[0];
    for (size_t i = 1; i < items.size(); ++i) {
      const TokenLogit& t = items[i];
      if (t.logit > best.logit || (t.logit == best.logit && t.id < best.id)) best = t;
    }
    if (best.logit == detail::kNegInf) detail::fail_no_finite_logit(items.size());
    candidates.select(best.id);
  }

  std::unique_ptr<Processor> clone() const override { return std::make_unique<Greedy>(*this); }
};

// Samples a candidate from softmax(logits) with a seeded genarm::Rng: one uniform draw u per step,
// then the first candidate (in the array's current order) whose cumulative probability exceeds u.
// Needs no sorting, so plain sampling over a large vocabulary is two passes. Every step consumes
// exactly one draw whatever the candidates, so streams stay aligned across filter settings.
// reset() does NOT rewind the stream (a new sequence gets new draws); reseed() restarts it.
// Owns its Rng; clone() copies the stream position. Not thread-safe (one per sequence).
class Distribution final : public Processor {
 public:
  explicit Distribution(uint64_t seed) : rng_(seed) {}
  explicit Distribution(const Rng& rng) : rng_(rng) {}

  void reseed(uint64_t seed) { rng_ = Rng(seed); }
  Rng& rng() { return rng_; }
  const Rng& rng() const { return rng_; }

  std::string_view name() const override { return "distribution"; }

  void apply(Candidates& candidates) override {
    if (candidates.empty()) fail(ErrorCategory::kInvalidArgument, "distribution: no candidates left");
    const std::span<const double> probs = candidates.probabilities();  // fails if all are -inf
    const double u = rng_.uniform();
    const size_t n = probs.size();
    size_t chosen = n;
    double cumulative = 0.0;
    for (size_t i = 0; i < n; ++i) {
      cumulative += probs[i];
      if (u < cumulative) {
        chosen = i;
        break;
      }
    }
    if (chosen == n) {
      // Rounding left the total a hair below u: take the last candidate with non-zero mass.
      chosen = n - 1;
      while (probs[chosen] == 0.0) --chosen;  // terminates: the max has probability > 0
    }
    const TokenLogit& t = candidates.items()[chosen];
    candidates.select(t.id, static_cast<double>(t.logit) - candidates.log_normalizer());
  }

  std::unique_ptr<Processor> clone() const override {
    return std::make_unique<Distribution>(*this);
  }

 private:
  Rng rng_;
};

}  // namespace genarm::sampling
