// genarm::sampling::LogitBias — fixed per-token additive biases and bans.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "genarm/core/error.hpp"
#include "genarm/sampling/candidates.hpp"
#include "genarm/sampling/processor.hpp"

namespace genarm::sampling {

// Adds a fixed bias to chosen tokens' logits; a bias of -inf bans the token (its logit becomes
// -inf, probability 0), as OpenAI's logit_bias and HF's sequence_bias / bad_words_ids do for single
// tokens. Ids must be >= 0 and listed once; biases finite or -inf.
// Owns a copy of the biases (sorted by id). Not thread-safe.
class LogitBias final : public Processor {
 public:
  explicit LogitBias(std::vector<std::pair<int32_t, float>> biases) : biases_(std::move(biases)) {
    validate(biases_);
    std::sort(biases_.begin(), biases_.end());
  }

  // Throws genarm::Error(kInvalidArgument) naming the offending entry.
  static void validate(const std::vector<std::pair<int32_t, float>>& biases) {
    for (const auto& [id, bias] : biases) {
      if (id < 0) {
        fail(ErrorCategory::kInvalidArgument, "logit_bias token id ", id, " is negative");
      }
      if (std::isnan(bias) || bias == std::numeric_limits<float>::infinity()) {
        fail(ErrorCategory::kInvalidArgument, "logit_bias for token ", id, " = ", bias,
             ": must be finite or -inf (ban)");
      }
    }
    std::vector<int32_t> ids;
    ids.reserve(biases.size());
    for (const auto& entry : biases) ids.push_back(entry.first);
    std::sort(ids.begin(), ids.end());
    const auto dup = std::adjacent_find(ids.begin(), ids.end());
    if (dup != ids.end()) {
      fail(ErrorCategory::kInvalidArgument, "logit_bias lists token ", *dup, " more than once");
    }
  }

  const std::vector<std::pair<int32_t, float>>& biases() const { return biases_; }

  std::string_view name() const override { return "logit_bias"; }

  void apply(Candidates& candidates) override {
    if (biases_.empty()) return;
    // Sorted by id, so the largest id is last: one check covers the whole list.
    if (static_cast<size_t>(biases_.back().first) >= candidates.vocab_size()) {
      fail(ErrorCategory::kInvalidArgument, "logit_bias token id ", biases_.back().first,
           " is outside the vocabulary (size ", candidates.vocab_size(), ")");
    }
    const std::span<TokenLogit> items = candidates.items();
    const bool direct = std::all_of(biases_.begin(), biases_.end(), [&](const auto& entry) {
      const auto i = static_cast<size_t>(entry.first);
      return i < items.size() && items[i].id == entry.first;
    });
    if (direct) {
      for (const auto& [id, bias] : biases_) bias_one(items[static_cast<size_t>(id)], bias);
    } else {
      // An earlier step reordered or filtered the candidates: look each one up by id.
      for (TokenLogit& t : items) {
        const auto it =
            std::lower_bound(biases_.begin(), biases_.end(), t.id,
                             [](const auto& entry, int32_t id) { return entry.first < id; });
        if (it != biases_.end() && it->first == t.id) bias_one(t, it->second);
      }
    }
    candidates.set_sorted(false);
  }

  std::unique_ptr<Processor> clone() const override { return std::make_unique<LogitBias>(*this); }

 private:
  static void bias_one(TokenLogit& t, float bias) {
    if (bias == detail::kNegInf) {
      t.logit = detail::kNegInf;
    } else if (t.logit != detail::kNegInf) {
      t.logit = detail::saturate(static_cast<double>(t.logit) + bias);
    }
  }

  std::vector<std::pair<int32_t, float>> biases_;  // (entries) sorted by id
};

}  // namespace genarm::sampling
