// genarm::sampling::TopP — nucleus filtering.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "genarm/core/error.hpp"
#include "genarm/sampling/candidates.hpp"
#include "genarm/sampling/mass_histogram.hpp"
#include "genarm/sampling/processor.hpp"

namespace genarm::sampling {

// Nucleus (top-p) filtering (Holtzman et al. 2020, "The Curious Case of Neural Text
// Degeneration"; HF TopPLogitsWarper): keeps the smallest set of most probable candidates whose
// mass reaches p, the token that crosses p included, and at least min_keep. p = 1 keeps all.
// Ties are ranked by lower id. No full sort on large unsorted inputs: a mass histogram over
// (max - logit) finds the bucket where the mass crosses p and only that bucket is sorted, so a
// step is O(V) plus a sort of a few hundred tokens. Survivors come out sorted when the input was
// sorted or small, otherwise in a deterministic but unspecified order.
// Owns scratch buffers sized by reserve() (or on first use). Not thread-safe.
class TopP final : public Processor {
 public:
  explicit TopP(float p, size_t min_keep = 1) : p_(p), min_keep_(min_keep) {
    if (!(p > 0 && p <= 1)) {
      fail(ErrorCategory::kInvalidArgument, "top_p = ", p, ": must be in (0, 1] (1 disables it)");
    }
    if (min_keep < 1) fail(ErrorCategory::kInvalidArgument, "TopP min_keep must be >= 1, got 0");
  }

  float p() const { return p_; }

  std::string_view name() const override { return "top_p"; }

  void reserve(size_t vocab_size) override {
    if (weights_.size() < vocab_size) {
      weights_.resize(vocab_size);
      spill_.resize(vocab_size);
    }
    histogram_.reserve(vocab_size);
  }

  void apply(Candidates& candidates) override {
    const size_t n = candidates.size();
    if (p_ >= 1 || n <= min_keep_) return;
    reserve(n);
    if (candidates.sorted() || n <= kSortBelow) {
      apply_sorted(candidates);
    } else {
      apply_histogram(candidates);
    }
  }

  std::unique_ptr<Processor> clone() const override { return std::make_unique<TopP>(*this); }

 private:
  // Below this size a full sort is cheaper than the histogram's fixed cost.
  static constexpr size_t kSortBelow = 1024;

  struct Weighted {
    TokenLogit token;
    double weight;
  };

  // HF removes a token when the mass strictly after it (ascending cumsum) is <= 1 - p, i.e. keeps
  // it while the mass strictly before it (descending) is < p. Mass is compared unnormalised,
  // against p * sum.
  void apply_sorted(Candidates& candidates) {
    candidates.sort_descending();
    const std::span<TokenLogit> items = candidates.items();
    const size_t n = items.size();
    const float max = detail::exp_weights(items, weights_.data());
    if (max == detail::kNegInf) return;  // nothing to rank; the selector reports it
    const double target = static_cast<double>(p_) * detail::sum(weights_.data(), n);
    size_t keep = 0;
    double mass = 0.0;
    while (keep < n && mass < target) mass += weights_[keep++];
    candidates.truncate(std::max(keep, min_keep_));
  }

  void apply_histogram(Candidates& candidates) {
    const std::span<TokenLogit> items = candidates.items();
    const size_t n = items.size();
    const float max = detail::exp_weights(items, weights_.data());
    if (max == detail::kNegInf) return;
    const double target = static_cast<double>(p_) * detail::sum(weights_.data(), n);
    const double m = max;
    const auto crossing = histogram_.locate(
        n, [&](size_t i) { return m - static_cast<double>(items[i].logit); }, weights_.data(),
        target);
    if (crossing.count_before + crossing.count_in < min_keep_) {
      apply_sorted(
          candidates);  // min_keep reaches past the crossing bucket: rare, take the slow way
      return;
    }
    // Buckets before the crossing are kept whole (compacted in place, order preserved); the
    // crossing bucket's members are set aside with their weights, sorted, and walked.
    // Branch-free: every item is written to both destinations and the cursors advance only where
    // it belongs (a branch here is a coin flip when the nucleus is half the vocabulary).
    size_t out = 0;
    size_t spilled = 0;
    for (size_t i = 0; i < n; ++i) {
      const size_t b = histogram_.bucket(i);
      const TokenLogit t = items[i];
      items[out] = t;
      spill_[spilled] = Weighted{t, weights_[i]};
      out += b < crossing.bucket;
      spilled += b == crossing.bucket;
    }
    std::sort(
        spill_.begin(), spill_.begin() + static_cast<std::ptrdiff_t>(spilled),
        [](const Weighted& a, const Weighted& b) { return ByLogitDescending{}(a.token, b.token); });
    size_t taken = 0;
    double mass = crossing.mass_before;
    while (taken < spilled && mass < target) mass += spill_[taken++].weight;
    if (out + taken < min_keep_) taken = min_keep_ - out;  // <= spilled, checked above
    for (size_t j = 0; j < taken; ++j) items[out + j] = spill_[j].token;
    candidates.truncate(out + taken);
    candidates.set_sorted(false);
  }

  float p_;
  size_t min_keep_;
  std::vector<double> weights_;  // (vocab) exp(logit - max), item order
  std::vector<Weighted> spill_;  // (vocab) the crossing bucket's members
  detail::MassHistogram histogram_;
};

}  // namespace genarm::sampling
