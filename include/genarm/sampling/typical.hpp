// genarm::sampling::Typical — locally typical sampling.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <numeric>
#include <span>
#include <string_view>
#include <vector>

#include "genarm/core/error.hpp"
#include "genarm/sampling/candidates.hpp"
#include "genarm/sampling/processor.hpp"

namespace genarm::sampling {

// Locally typical sampling (Meister et al. 2022, "Locally Typical Sampling", TACL,
// arXiv 2202.00666; HF TypicalLogitsWarper): ranks tokens by |-log p_i - H| (distance of their
// surprisal from the entropy H), takes them in that order until the mass reaches p, and keeps every
// token at most as far from H as the one that crossed p (ties included), at least min_keep. May drop
// the most likely token. p = 1 keeps all. Sorts by distance progressively (256, then 4x).
// Keeps the survivors in their order.
// Owns scratch buffers sized by reserve() (or on first use). Not thread-safe.
class Typical final : public Processor {
 public:
  explicit Typical(float p, size_t min_keep = 1) : p_(p), min_keep_(min_keep) {
    if (!(p > 0 && p <= 1)) {
      fail(ErrorCategory::kInvalidArgument, "typical_p = ", p,
           ": must be in (0, 1] (1 disables it)");
    }
    if (min_keep < 1) fail(ErrorCategory::kInvalidArgument, "Typical min_keep must be >= 1, got 0");
  }

  float p() const { return p_; }

  std::string_view name() const override { return "typical"; }

  void reserve(size_t vocab_size) override {
    if (probs_.size() < vocab_size) {
      probs_.resize(vocab_size);
      distance_.resize(vocab_size);
      order_.resize(vocab_size);
    }
  }

  void apply(Candidates& candidates) override {
    const size_t n = candidates.size();
    if (p_ >= 1 || n <= min_keep_) return;
    const std::span<TokenLogit> items = candidates.items();
    const float max = detail::max_logit(items);
    if (max == detail::kNegInf) return;  // nothing to rank; the selector reports it
    reserve(n);

    const double sum = detail::exp_weights(items, max, probs_.data());
    const double log_z = static_cast<double>(max) + std::log(sum);
    double entropy = 0.0;
    for (size_t i = 0; i < n; ++i) {
      probs_[i] /= sum;
      // p log p -> 0 as p -> 0: -inf candidates add nothing (HF's nansum).
      if (items[i].logit != detail::kNegInf) {
        entropy -= probs_[i] * (static_cast<double>(items[i].logit) - log_z);
      }
    }
    for (size_t i = 0; i < n; ++i) {
      const double logp = static_cast<double>(items[i].logit) - log_z;
      distance_[i] = items[i].logit == detail::kNegInf ? std::numeric_limits<double>::infinity()
                                                       : std::abs(-logp - entropy);
    }

    std::iota(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(n), uint32_t{0});
    const auto closer = [this](uint32_t a, uint32_t b) {
      return distance_[a] < distance_[b] || (distance_[a] == distance_[b] && a < b);
    };
    size_t sorted_count = 0;
    const auto ensure_sorted = [&](size_t count) {
      while (sorted_count < count) {
        const size_t next = std::min(n, std::max(kFirstBlock, sorted_count * kGrowth));
        std::partial_sort(order_.begin() + static_cast<std::ptrdiff_t>(sorted_count),
                          order_.begin() + static_cast<std::ptrdiff_t>(next),
                          order_.begin() + static_cast<std::ptrdiff_t>(n), closer);
        sorted_count = next;
      }
    };

    // HF: last = number of ranked positions whose cumulative mass is < p (clamped to n - 1), i.e.
    // the first position where the mass reaches p.
    size_t last = 0;
    double mass = 0.0;
    for (; last < n; ++last) {
      ensure_sorted(last + 1);
      mass += probs_[order_[last]];
      if (mass >= p_) break;
    }
    last = std::min(last, n - 1);
    ensure_sorted(min_keep_);
    const double cutoff = std::max(distance_[order_[last]], distance_[order_[min_keep_ - 1]]);

    size_t out = 0;
    for (size_t i = 0; i < n; ++i) {
      if (distance_[i] <= cutoff) items[out++] = items[i];
    }
    candidates.truncate(out);
  }

  std::unique_ptr<Processor> clone() const override { return std::make_unique<Typical>(*this); }

 private:
  static constexpr size_t kFirstBlock = 256;
  static constexpr size_t kGrowth = 4;

  float p_;
  size_t min_keep_;
  std::vector<double> probs_;     // (vocab) softmax of the candidates, item order
  std::vector<double> distance_;  // (vocab) |-log p_i - H|, item order
  std::vector<uint32_t> order_;   // (vocab) item indices by increasing distance (a sorted prefix)
};

}  // namespace genarm::sampling
