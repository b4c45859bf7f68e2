// genarm::sampling::Typical — locally typical sampling.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "genarm/core/error.hpp"
#include "genarm/sampling/candidates.hpp"
#include "genarm/sampling/mass_histogram.hpp"
#include "genarm/sampling/processor.hpp"

namespace genarm::sampling {

// Locally typical sampling (Meister et al. 2022, "Locally Typical Sampling", TACL,
// arXiv 2202.00666; HF TypicalLogitsWarper): ranks tokens by |-log p_i - H| (distance of their
// surprisal from the entropy H), takes them in that order until the mass reaches p, and keeps every
// token at most as far from H as the one that crossed p (ties included), at least min_keep. May
// drop the most likely token. p = 1 keeps all. Large inputs use a mass histogram over the distance
// (see MassHistogram) instead of sorting. Keeps the survivors in their order.
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
    if (weights_.size() < vocab_size) {
      weights_.resize(vocab_size);
      distance_.resize(vocab_size);
      ranked_.resize(vocab_size);
    }
    histogram_.reserve(vocab_size);
  }

  void apply(Candidates& candidates) override {
    const size_t n = candidates.size();
    if (p_ >= 1 || n <= min_keep_) return;
    const std::span<TokenLogit> items = candidates.items();
    reserve(n);
    const float max = detail::exp_weights(items, weights_.data());
    if (max == detail::kNegInf) return;  // nothing to rank; the selector reports it
    const double total = detail::sum(weights_.data(), n);
    const double log_z = static_cast<double>(max) + std::log(total);

    // H = -sum p log p; p log p -> 0 as p -> 0, so -inf candidates add nothing (HF's nansum).
    // Two running sums halve the add-latency chain.
    double h0 = 0;
    double h1 = 0;
    for (size_t i = 0; i + 1 < n; i += 2) {
      if (weights_[i] > 0) h0 -= weights_[i] * (static_cast<double>(items[i].logit) - log_z);
      if (weights_[i + 1] > 0) {
        h1 -= weights_[i + 1] * (static_cast<double>(items[i + 1].logit) - log_z);
      }
    }
    if (n % 2 == 1 && weights_[n - 1] > 0) {
      h0 -= weights_[n - 1] * (static_cast<double>(items[n - 1].logit) - log_z);
    }
    const double entropy = (h0 + h1) / total;
    for (size_t i = 0; i < n; ++i) {
      distance_[i] = weights_[i] > 0
                         ? std::abs(log_z - static_cast<double>(items[i].logit) - entropy)
                         : std::numeric_limits<double>::infinity();
    }

    const double target = static_cast<double>(p_) * total;
    double cutoff = 0;
    if (n <= kSortBelow) {
      cutoff = cutoff_by_sorting(n, 0, n, 0.0, target, [](size_t) { return true; });
    } else {
      const auto crossing = histogram_.locate(
          n, [this](size_t i) { return distance_[i]; }, weights_.data(), target);
      if (crossing.count_before + crossing.count_in < min_keep_) {
        cutoff = cutoff_by_sorting(n, 0, n, 0.0, target, [](size_t) { return true; });
      } else {
        // Only the crossing bucket needs ranking; min_keep counts the buckets before it.
        cutoff = cutoff_by_sorting(
            n, crossing.count_before, crossing.count_in, crossing.mass_before, target,
            [&](size_t i) { return histogram_.bucket(i) == crossing.bucket; });
      }
    }

    candidates.keep_if_index([&](size_t i) { return distance_[i] <= cutoff; });
  }

  std::unique_ptr<Processor> clone() const override { return std::make_unique<Typical>(*this); }

 private:
  static constexpr size_t kSortBelow = 1024;

  struct Ranked {
    double distance;
    double weight;
    uint32_t index;
  };

  // Ranks the `count` items selected by `member` (they follow `rank_before` better-ranked items of
  // total weight `mass_before`) by (distance, index), walks them until the mass reaches target,
  // and returns the distance cutoff: that of the crossing item, or of the min_keep-th overall if
  // further. HF: last = number of ranked items whose cumulative mass is < p, clamped to the end.
  template <typename Member>
  double cutoff_by_sorting(size_t n, size_t rank_before, size_t count, double mass_before,
                           double target, Member member) {
    size_t k = 0;
    for (size_t i = 0; i < n && k < count; ++i) {
      if (member(i)) ranked_[k++] = Ranked{distance_[i], weights_[i], static_cast<uint32_t>(i)};
    }
    const auto first = ranked_.begin();
    std::sort(first, first + static_cast<std::ptrdiff_t>(k), [](const Ranked& a, const Ranked& b) {
      return a.distance < b.distance || (a.distance == b.distance && a.index < b.index);
    });
    size_t last = 0;
    double mass = mass_before;
    for (; last < k; ++last) {
      mass += ranked_[last].weight;
      if (mass >= target) break;
    }
    last = std::min(last, k - 1);
    double cutoff = ranked_[last].distance;
    if (min_keep_ > rank_before) {
      const size_t forced = std::min(min_keep_ - rank_before, k) - 1;
      cutoff = std::max(cutoff, ranked_[forced].distance);
    }
    return cutoff;
  }

  float p_;
  size_t min_keep_;
  std::vector<double> weights_;   // (vocab) exp(logit - max), item order
  std::vector<double> distance_;  // (vocab) |-log p_i - H|, item order (+inf for -inf logits)
  std::vector<Ranked> ranked_;    // (vocab) the items being ranked, by increasing distance
  detail::MassHistogram histogram_;
};

}  // namespace genarm::sampling
