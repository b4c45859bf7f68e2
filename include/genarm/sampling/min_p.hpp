// genarm::sampling::MinP — keep tokens at least p times as likely as the best one.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <memory>
#include <string_view>

#include "genarm/core/error.hpp"
#include "genarm/sampling/candidates.hpp"
#include "genarm/sampling/processor.hpp"

namespace genarm::sampling {

// Min-p filtering (Nguyen et al. 2024, "Turning Up the Heat: Min-p Sampling for Creative and
// Coherent LLM Outputs", arXiv 2407.01082; HF MinPLogitsWarper): removes tokens whose probability
// is below p * (probability of the most likely token), keeping at least min_keep. Compared in
// logit space (logit < max + log p), so no exp and no sort: O(size). Keeps the survivors in their
// order. p = 0 keeps all.
// Immutable after construction: apply() on different Candidates may run concurrently.
class MinP final : public Processor {
 public:
  explicit MinP(float p, size_t min_keep = 1) : p_(p), min_keep_(min_keep) {
    if (!(p >= 0 && p <= 1)) {
      fail(ErrorCategory::kInvalidArgument, "min_p = ", p, ": must be in [0, 1] (0 disables it)");
    }
    if (min_keep < 1) fail(ErrorCategory::kInvalidArgument, "MinP min_keep must be >= 1, got 0");
  }

  float p() const { return p_; }

  std::string_view name() const override { return "min_p"; }

  void apply(Candidates& candidates) override {
    const size_t n = candidates.size();
    if (p_ <= 0 || n <= min_keep_) return;
    const float max =
        candidates.sorted() ? candidates.items()[0].logit : detail::max_logit(candidates.items());
    if (max == detail::kNegInf) return;  // nothing to rank; the selector reports it
    // p_i >= p * p_max  <=>  exp(l_i - max) >= p  <=>  l_i >= max + log p. Rounding that bound
    // up to the next float makes the float comparison exactly the double one.
    const double bound = static_cast<double>(max) + std::log(static_cast<double>(p_));
    float threshold = static_cast<float>(bound);
    if (static_cast<double>(threshold) < bound) {
      threshold = std::nextafter(threshold, std::numeric_limits<float>::infinity());
    }
    // The max itself always survives (log p <= 0), so min_keep = 1 needs no count.
    size_t survivors = min_keep_;
    if (min_keep_ > 1) {
      survivors = 0;
      for (const TokenLogit& t : candidates.items()) survivors += t.logit >= threshold;
    }
    if (survivors >= min_keep_) {
      candidates.keep_if([threshold](const TokenLogit& t) { return t.logit >= threshold; });
    } else {
      candidates.partial_sort_descending(min_keep_);
      candidates.truncate(min_keep_);
      candidates.set_sorted(true);
    }
  }

  std::unique_ptr<Processor> clone() const override { return std::make_unique<MinP>(*this); }

 private:
  float p_;
  size_t min_keep_;
};

}  // namespace genarm::sampling
