// genarm::sampling::TopP — nucleus filtering.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <memory>
#include <span>
#include <string_view>

#include "genarm/core/error.hpp"
#include "genarm/sampling/candidates.hpp"
#include "genarm/sampling/processor.hpp"

namespace genarm::sampling {

// Nucleus (top-p) filtering (Holtzman et al. 2020, "The Curious Case of Neural Text
// Degeneration"; HF TopPLogitsWarper): keeps the smallest set of most probable candidates whose
// mass reaches p, the token that crosses p included, and at least min_keep. p = 1 keeps all.
// Sorts progressively: the best 256 first, then 4x more each time the mass is still short, so a
// peaked distribution over a 128k vocabulary never pays for a full sort. Leaves the survivors
// sorted. Stateless. Not thread-safe (trivially: no shared state).
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

  void apply(Candidates& candidates) override {
    const size_t n = candidates.size();
    if (p_ >= 1 || n <= min_keep_) return;
    const std::span<TokenLogit> items = candidates.items();
    const float max = candidates.sorted() ? items[0].logit : detail::max_logit(items);
    if (max == detail::kNegInf) return;  // nothing to rank; the selector reports it
    // Mass is accumulated unnormalised against p * sum, so one pass of exp computes the sum.
    const double target = static_cast<double>(p_) * detail::exp_sum(items, max);

    size_t sorted_count = candidates.sorted() ? n : 0;
    const auto widen = [&] {
      const size_t next = std::min(n, std::max(kFirstBlock, sorted_count * kGrowth));
      std::partial_sort(items.begin() + static_cast<std::ptrdiff_t>(sorted_count),
                        items.begin() + static_cast<std::ptrdiff_t>(next), items.end(),
                        ByLogitDescending{});
      sorted_count = next;
    };

    // HF removes a token when the mass strictly after it (ascending cumsum) is <= 1 - p, i.e.
    // keeps it while the mass strictly before it is < p.
    size_t keep = 0;
    double mass = 0.0;
    while (keep < n && mass < target) {
      if (keep == sorted_count) widen();
      mass += std::exp(static_cast<double>(items[keep].logit) - max);
      ++keep;
    }
    keep = std::max(keep, min_keep_);
    while (sorted_count < keep) widen();
    candidates.truncate(keep);
    candidates.set_sorted(true);
  }

  std::unique_ptr<Processor> clone() const override { return std::make_unique<TopP>(*this); }

 private:
  static constexpr size_t kFirstBlock = 256;
  static constexpr size_t kGrowth = 4;

  float p_;
  size_t min_keep_;
};

}  // namespace genarm::sampling
