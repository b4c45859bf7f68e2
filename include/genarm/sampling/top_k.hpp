// genarm::sampling::TopK — keep the k highest logits (and their ties).
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <span>
#include <string_view>
#include <utility>

#include "genarm/core/error.hpp"
#include "genarm/sampling/candidates.hpp"
#include "genarm/sampling/processor.hpp"

namespace genarm::sampling {

// Top-k filtering (Fan, Lewis & Dauphin 2018, "Hierarchical Neural Story Generation"; HF
// TopKLogitsWarper): keeps every candidate whose logit is >= the k-th highest, so ties with the
// k-th value all survive, and at least max(k, min_keep). Partial sort (small k) or selection then
// a sort of k (large k), never a full sort; leaves the survivors sorted.
// Immutable after construction: apply() on different Candidates may run concurrently.
class TopK final : public Processor {
 public:
  explicit TopK(int k, size_t min_keep = 1) : k_(k), min_keep_(min_keep) {
    if (k < 1) {
      fail(ErrorCategory::kInvalidArgument, "top_k = ", k,
           ": a TopK step needs k >= 1 (top_k = 0 disables it in SamplerParams)");
    }
    if (min_keep < 1) fail(ErrorCategory::kInvalidArgument, "TopK min_keep must be >= 1, got 0");
  }

  int k() const { return k_; }

  std::string_view name() const override { return "top_k"; }

  void apply(Candidates& candidates) override {
    const size_t keep = std::max(static_cast<size_t>(k_), min_keep_);
    const size_t n = candidates.size();
    if (keep >= n) return;
    size_t end = keep;
    if (candidates.sorted()) {
      const std::span<TokenLogit> items = candidates.items();
      const float kth = items[keep - 1].logit;
      while (end < n && items[end].logit == kth) ++end;
    } else {
      const std::span<TokenLogit> items = candidates.items();
      if (keep <= kHeapUpTo) {
        candidates.partial_sort_descending(keep);  // O(n log k), cheapest for the usual small k
      } else {
        // A heap of size k gets slow for large k: select, then sort only the k selected.
        const auto kth_it = items.begin() + static_cast<std::ptrdiff_t>(keep - 1);
        std::nth_element(items.begin(), kth_it, items.end(), ByLogitDescending{});
        std::sort(items.begin(), kth_it, ByLogitDescending{});
      }
      const float kth = items[keep - 1].logit;
      // Ties of the k-th value may sit anywhere in the unsorted tail: gather them after it, then
      // order them by id (they all rank after the tied ones already kept, in the total order).
      for (size_t i = keep; i < n; ++i) {
        if (items[i].logit == kth) std::swap(items[end++], items[i]);
      }
      std::sort(items.begin() + static_cast<std::ptrdiff_t>(keep),
                items.begin() + static_cast<std::ptrdiff_t>(end), ByLogitDescending{});
    }
    candidates.truncate(end);
    candidates.set_sorted(true);
  }

  std::unique_ptr<Processor> clone() const override { return std::make_unique<TopK>(*this); }

 private:
  static constexpr size_t kHeapUpTo = 256;

  int k_;
  size_t min_keep_;
};

}  // namespace genarm::sampling
