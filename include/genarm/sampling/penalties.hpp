// History-based penalties: the repetition penalty of Keskar et al. 2019 (CTRL,
// arXiv 1909.05858; HF RepetitionPenaltyLogitsProcessor) and OpenAI's frequency / presence
// penalties, both over a window of the most recent tokens.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "genarm/core/error.hpp"
#include "genarm/sampling/candidates.hpp"
#include "genarm/sampling/processor.hpp"

namespace genarm::sampling {

// Occurrence counts of token ids over the last `window` accepted tokens (0 = all of them), with
// the list of ids that occur, so a penalty costs O(distinct ids) per step instead of O(vocab).
// Owns its buffers (counts indexed by id grow to the largest id seen, or are sized by reserve()).
// Not thread-safe.
class TokenWindow {
 public:
  explicit TokenWindow(size_t window = 0) : window_(window) {}

  size_t window() const { return window_; }

  // Sizes the buffers for ids < vocab_size and from then on rejects ids outside it.
  void reserve(size_t vocab_size) {
    vocab_limit_ = vocab_size;
    if (counts_.size() < vocab_size) {
      counts_.resize(vocab_size, 0);
      slot_.resize(vocab_size, -1);
    }
    const size_t distinct_bound = window_ == 0 ? vocab_size : std::min(window_, vocab_size);
    distinct_.reserve(distinct_bound);
    ring_.reserve(std::min(window_, kMaxRingReserve));
  }

  void push(int32_t token) {
    if (token < 0 || (vocab_limit_ > 0 && static_cast<size_t>(token) >= vocab_limit_)) {
      fail(ErrorCategory::kInvalidArgument, "accepted token id ", token,
           " is outside the vocabulary (size ", vocab_limit_, ")");
    }
    if (window_ > 0) {
      if (ring_.size() < window_) {
        ring_.push_back(token);
      } else {
        // Full: the slot at head_ holds the oldest token; it leaves the window.
        decrement(ring_[head_]);
        ring_[head_] = token;
        head_ = (head_ + 1) % window_;
      }
    }
    increment(token);
  }

  void clear() {
    for (const int32_t id : distinct_) {
      counts_[static_cast<size_t>(id)] = 0;
      slot_[static_cast<size_t>(id)] = -1;
    }
    distinct_.clear();
    ring_.clear();
    head_ = 0;
  }

  int32_t count(int32_t id) const {
    const auto i = static_cast<size_t>(id);
    return id >= 0 && i < counts_.size() ? counts_[i] : 0;
  }

  // Ids with a non-zero count, in no particular order.
  std::span<const int32_t> distinct() const { return distinct_; }

 private:
  static constexpr size_t kMaxRingReserve = size_t{1} << 16;

  void increment(int32_t id) {
    const auto i = static_cast<size_t>(id);
    if (i >= counts_.size()) {
      counts_.resize(i + 1, 0);
      slot_.resize(i + 1, -1);
    }
    if (counts_[i]++ == 0) {
      slot_[i] = static_cast<int32_t>(distinct_.size());
      distinct_.push_back(id);
    }
  }

  void decrement(int32_t id) {
    const auto i = static_cast<size_t>(id);
    if (--counts_[i] == 0) {
      // Swap-remove from distinct_, fixing the moved id's slot.
      const auto s = static_cast<size_t>(slot_[i]);
      const int32_t last = distinct_.back();
      distinct_[s] = last;
      slot_[static_cast<size_t>(last)] = static_cast<int32_t>(s);
      distinct_.pop_back();
      slot_[i] = -1;
    }
  }

  size_t window_;
  size_t vocab_limit_ = 0;     // 0 = unknown (no reserve() yet): ids are not bounded
  std::vector<int32_t> ring_;  // (window) the last `window` tokens; oldest at head_ once full
  size_t head_ = 0;
  std::vector<int32_t> counts_;    // (vocab) occurrences of each id in the window
  std::vector<int32_t> slot_;      // (vocab) index of the id in distinct_, -1 if absent
  std::vector<int32_t> distinct_;  // (<= vocab) ids with a non-zero count
};

namespace detail {

// Rewrites the logit of every candidate that occurs in `history` as adjust(logit, count) and
// returns whether any did. Right after assign() candidate i is token i, so each id is reached in
// O(1); if an earlier step reordered or filtered the array, one O(size) scan is used instead.
// -inf logits are left alone (a banned token stays banned).
template <typename Adjust>
bool adjust_history(Candidates& candidates, const TokenWindow& history, Adjust adjust) {
  const std::span<const int32_t> ids = history.distinct();
  if (ids.empty()) return false;
  const std::span<TokenLogit> items = candidates.items();
  const bool direct = std::all_of(ids.begin(), ids.end(), [&](int32_t id) {
    const auto i = static_cast<size_t>(id);
    return i < items.size() && items[i].id == id;
  });
  if (direct) {
    for (const int32_t id : ids) {
      TokenLogit& t = items[static_cast<size_t>(id)];
      if (t.logit != kNegInf) t.logit = adjust(t.logit, history.count(id));
    }
  } else {
    for (TokenLogit& t : items) {
      const int32_t count = history.count(t.id);
      if (count > 0 && t.logit != kNegInf) t.logit = adjust(t.logit, count);
    }
  }
  candidates.set_sorted(false);
  return true;
}

}  // namespace detail

// Repetition penalty (Keskar et al. 2019, CTRL; HF RepetitionPenaltyLogitsProcessor): every token
// seen in the window, counted once, gets logit * penalty if negative and logit / penalty
// otherwise. penalty > 1 discourages repeats, < 1 encourages them, 1 is a no-op.
// Owns its token window. Not thread-safe.
class RepetitionPenalty final : public Processor {
 public:
  explicit RepetitionPenalty(float penalty, size_t window = 0)
      : penalty_(penalty), history_(window) {
    if (!(penalty > 0) || !std::isfinite(penalty)) {
      fail(ErrorCategory::kInvalidArgument, "repetition_penalty = ", penalty,
           ": must be a finite number > 0 (1 disables it)");
    }
  }

  float penalty() const { return penalty_; }
  const TokenWindow& history() const { return history_; }

  std::string_view name() const override { return "repetition_penalty"; }
  void apply(Candidates& candidates) override {
    const double p = penalty_;
    detail::adjust_history(candidates, history_, [p](float logit, int32_t) {
      // Float inputs: the double result rounds to the same float as HF's float32 arithmetic.
      return detail::saturate(logit < 0 ? logit * p : logit / p);
    });
  }
  void accept(int32_t token) override { history_.push(token); }
  void reset() override { history_.clear(); }
  void reserve(size_t vocab_size) override { history_.reserve(vocab_size); }
  std::unique_ptr<Processor> clone() const override {
    return std::make_unique<RepetitionPenalty>(*this);
  }

 private:
  float penalty_;
  TokenWindow history_;
};

// Frequency and presence penalties as OpenAI defines them
// (platform.openai.com/docs/advanced-usage, "frequency and presence penalties"):
// logit -= count * frequency + (count > 0) * presence, with count = occurrences in the window.
// Owns its token window. Not thread-safe.
class FrequencyPresencePenalty final : public Processor {
 public:
  FrequencyPresencePenalty(float frequency, float presence, size_t window = 0)
      : frequency_(frequency), presence_(presence), history_(window) {
    if (!std::isfinite(frequency)) {
      fail(ErrorCategory::kInvalidArgument, "frequency_penalty = ", frequency,
           ": must be a finite number (0 disables it)");
    }
    if (!std::isfinite(presence)) {
      fail(ErrorCategory::kInvalidArgument, "presence_penalty = ", presence,
           ": must be a finite number (0 disables it)");
    }
  }

  float frequency() const { return frequency_; }
  float presence() const { return presence_; }
  const TokenWindow& history() const { return history_; }

  std::string_view name() const override { return "frequency_presence_penalty"; }
  void apply(Candidates& candidates) override {
    const double f = frequency_;
    const double p = presence_;
    detail::adjust_history(candidates, history_, [f, p](float logit, int32_t count) {
      return detail::saturate(static_cast<double>(logit) - (count * f + p));
    });
  }
  void accept(int32_t token) override { history_.push(token); }
  void reset() override { history_.clear(); }
  void reserve(size_t vocab_size) override { history_.reserve(vocab_size); }
  std::unique_ptr<Processor> clone() const override {
    return std::make_unique<FrequencyPresencePenalty>(*this);
  }

 private:
  float frequency_;
  float presence_;
  TokenWindow history_;
};

}  // namespace genarm::sampling
