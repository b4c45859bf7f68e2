// ComponentFilter: a restriction computed from ONE component's distribution and applied to the
// combined decoding logits before sampling — tokens the filter excludes get z = -inf whatever the
// other components say. It is what contrastive decoding's plausibility constraint needs
// (Li et al. 2023: keep v with p_expert(v) >= alpha * max p_expert, i.e. min_p on the expert), and
// what keeps a strongly weighted guide from promoting tokens the base finds implausible.
//   top_k: keep the k most likely tokens of the component (ties with the k-th kept)
//   top_p: keep the smallest set of the component's most likely tokens whose mass reaches p
//   min_p: keep tokens with p(v) >= min_p * max p
// Several may be set; a token must pass all of them. Default: no filter.
// Thread-safety: value type; apply() uses caller-provided scratch.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "genarm/core/error.hpp"
#include "genarm/core/math.hpp"

namespace genarm {

struct ComponentFilter {
  int top_k = 0;      // 0 = off
  float top_p = 1.0f; // 1 = off
  float min_p = 0.0f; // 0 = off

  bool active() const { return top_k > 0 || top_p < 1.0f || min_p > 0.0f; }

  void validate() const {
    if (top_k < 0) fail(ErrorCategory::kInvalidArgument, "component filter top_k ", top_k, " must be >= 0");
    if (!(top_p > 0.0f && top_p <= 1.0f)) {
      fail(ErrorCategory::kInvalidArgument, "component filter top_p ", top_p, " must be in (0, 1]");
    }
    if (!(min_p >= 0.0f && min_p <= 1.0f)) {
      fail(ErrorCategory::kInvalidArgument, "component filter min_p ", min_p, " must be in [0, 1]");
    }
  }

  // Sets z[v] = -inf for every v the component's `logits` (over the same vocabulary, first
  // z.size() entries used) exclude. `scratch` needs z.size() floats; nothing is allocated.
  void apply(std::span<const float> logits, std::span<float> z, std::span<float> scratch) const {
    if (!active()) return;
    const size_t n = z.size();
    GENARM_ASSERT(logits.size() >= n && scratch.size() >= n);
    const float threshold = keep_threshold(logits.first(n), scratch.first(n));
    for (size_t v = 0; v < n; ++v) {
      if (logits[v] < threshold) z[v] = kNegInf;
    }
  }

 private:
  // The smallest logit a kept token may have (each rule keeps a top set, so their intersection is
  // the tokens above the largest of the thresholds).
  float keep_threshold(std::span<const float> logits, std::span<float> scratch) const {
    const size_t n = logits.size();
    float threshold = kNegInf;
    const float max = *std::max_element(logits.begin(), logits.end());
    if (min_p > 0.0f) threshold = std::max(threshold, max + std::log(min_p));
    if (top_k > 0 && static_cast<size_t>(top_k) < n) {
      std::copy(logits.begin(), logits.end(), scratch.begin());
      const auto kth = scratch.begin() + (top_k - 1);
      std::nth_element(scratch.begin(), kth, scratch.end(), std::greater<float>());
      threshold = std::max(threshold, *kth);
    }
    if (top_p < 1.0f) threshold = std::max(threshold, top_p_threshold(logits, scratch));
    return threshold;
  }

  // Widens a top-k window (x4 each time) until its mass reaches top_p; O(n) per try.
  float top_p_threshold(std::span<const float> logits, std::span<float> scratch) const {
    const size_t n = logits.size();
    const double log_z = log_sum_exp(logits);
    for (size_t k = std::min<size_t>(64, n);; k = std::min(n, k * 4)) {
      std::copy(logits.begin(), logits.end(), scratch.begin());
      std::nth_element(scratch.begin(), scratch.begin() + static_cast<std::ptrdiff_t>(k - 1), scratch.end(),
                       std::greater<float>());
      std::sort(scratch.begin(), scratch.begin() + static_cast<std::ptrdiff_t>(k), std::greater<float>());
      double mass = 0.0;
      for (size_t i = 0; i < k; ++i) {
        mass += std::exp(static_cast<double>(scratch[i]) - log_z);
        if (mass >= top_p) return scratch[i];  // boundary token included, as HF's top-p
      }
      if (k == n) return scratch[n - 1];
    }
  }
};

}  // namespace genarm
