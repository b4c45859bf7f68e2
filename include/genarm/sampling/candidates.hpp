// genarm::sampling::Candidates — the candidate set of one sampling step.
//
// Every vocabulary token enters with its logit; processors rewrite logits, drop candidates
// (filters shrink the array and may reorder it) or sort it, and a selecting processor records the
// chosen id. This is llama.cpp's llama_token_data_array (include/llama.h) with HF semantics on top.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <vector>

#include "genarm/core/error.hpp"

namespace genarm::sampling {

struct TokenLogit {
  int32_t id;
  float logit;
};

// The strict total order of every sort here: higher logit first, equal logits by lower id. Making
// ties deterministic means the sorted order (and which of several tied tokens a filter keeps) does
// not depend on the standard library's sort algorithm.
struct ByLogitDescending {
  bool operator()(const TokenLogit& a, const TokenLogit& b) const {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  }
};

namespace detail {

inline constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// A processor's new value for a finite logit, narrowed to float without overflowing to +-inf:
// a finite logit must stay finite (an overflow to +inf would turn softmax into NaN).
inline float saturate(double x) {
  constexpr double kMax = std::numeric_limits<float>::max();
  return static_cast<float>(std::clamp(x, -kMax, kMax));
}

// Largest logit; -inf when no candidate has a finite one. Four independent maxima in named
// locals (an array is kept on the stack at -O2): a single running max is bound by the latency of
// the max instruction, not by memory.
inline float max_logit(std::span<const TokenLogit> items) {
  float m0 = kNegInf, m1 = kNegInf, m2 = kNegInf, m3 = kNegInf;
  const TokenLogit* p = items.data();
  const size_t n = items.size();
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    m0 = std::max(m0, p[i].logit);
    m1 = std::max(m1, p[i + 1].logit);
    m2 = std::max(m2, p[i + 2].logit);
    m3 = std::max(m3, p[i + 3].logit);
  }
  for (; i < n; ++i) m0 = std::max(m0, p[i].logit);
  return std::max(std::max(m0, m1), std::max(m2, m3));
}

// Fails with the message the whole sampling layer uses when nothing can be sampled.
[[noreturn]] inline void fail_no_finite_logit(size_t n) {
  fail(ErrorCategory::kInvalidArgument, "no token has finite logit (all ", n,
       " candidates are -inf, e.g. every token banned)");
}

// exp arguments below this give exactly 0 (e^-708 ~ 3e-308 is nothing next to the max's 1).
inline constexpr double kMinExpArgument = -708.0;

// weights[i] = exp(logit_i - max) in double, where max is the largest logit, which it returns
// (-inf, weights untouched, when no logit is finite). The exp is Eigen's vectorised one (within
// 1 ulp of std::exp, several times faster); -inf logits, and anything below e^-708, get exactly 0,
// so a banned token can never be drawn.
inline float exp_weights(std::span<const TokenLogit> items, double* weights) {
  const float max = max_logit(items);
  if (max == kNegInf) return max;
  const size_t n = items.size();
  const double m = max;
  // Gather the strided logits into the contiguous buffer Eigen works on, tracking the minimum
  // (two running minima, for the same latency reason as max_logit).
  const TokenLogit* p = items.data();
  float lo0 = max, lo1 = max;
  size_t i = 0;
  for (; i + 2 <= n; i += 2) {
    const float a = p[i].logit;
    const float b = p[i + 1].logit;
    weights[i] = static_cast<double>(a) - m;
    weights[i + 1] = static_cast<double>(b) - m;
    lo0 = std::min(lo0, a);
    lo1 = std::min(lo1, b);
  }
  if (i < n) {
    weights[i] = static_cast<double>(p[i].logit) - m;
    lo0 = std::min(lo0, p[i].logit);
  }
  Eigen::Map<Eigen::ArrayXd> w(weights, static_cast<Eigen::Index>(n));
  w = w.exp();
  const double min = std::min(lo0, lo1);
  if (min - m < kMinExpArgument) {
    // Eigen clamps its argument and returns a tiny denormal there; make it an exact 0.
    for (size_t j = 0; j < n; ++j) {
      if (static_cast<double>(items[j].logit) - m < kMinExpArgument) weights[j] = 0.0;
    }
  }
  return max;
}

// Sum of n doubles (Eigen's vectorised reduction: a fixed order for a given build).
inline double sum(const double* values, size_t n) {
  return Eigen::Map<const Eigen::ArrayXd>(values, static_cast<Eigen::Index>(n)).sum();
}

// sum_i exp(logit_i - max) without a buffer (scalar std::exp; for the paths off the hot loop).
inline double exp_sum(std::span<const TokenLogit> items, double max) {
  double s0 = 0, s1 = 0;
  const size_t n = items.size();
  size_t i = 0;
  for (; i + 2 <= n; i += 2) {
    s0 += std::exp(static_cast<double>(items[i].logit) - max);
    s1 += std::exp(static_cast<double>(items[i + 1].logit) - max);
  }
  if (i < n) s0 += std::exp(static_cast<double>(items[i].logit) - max);
  return s0 + s1;
}

// log sum_i exp(logit_i) over the candidates, computed stably; fails when all are -inf.
inline double log_normalizer(std::span<const TokenLogit> items) {
  const float m = max_logit(items);
  if (m == kNegInf) fail_no_finite_logit(items.size());
  return static_cast<double>(m) + std::log(exp_sum(items, m));
}

}  // namespace detail

// The candidates of one step. Invariants: every id appears at most once; logits are finite or
// -inf (-inf = probability 0; never NaN or +inf); `sorted()` is true only if the items are in
// descending logit order. Whoever reorders or rewrites items() must keep `sorted()` truthful.
// Owns its buffers, sized once by the constructor / reserve() so that a step never allocates.
// Not thread-safe (one per sequence).
class Candidates {
 public:
  explicit Candidates(size_t capacity = 0) { reserve(capacity); }

  // Grows the buffers to hold `capacity` candidates (never shrinks).
  void reserve(size_t capacity) {
    if (capacity > items_.size()) {
      items_.resize(capacity);
      probabilities_.resize(capacity);
    }
  }
  size_t capacity() const { return items_.size(); }

  // Starts a step: candidate i is token i with logits[i]. -inf entries are kept (probability 0).
  // Fails on an empty vector, a NaN or +inf logit, or when every logit is -inf.
  void assign(std::span<const float> logits) {
    const size_t n = logits.size();
    if (n == 0)
      fail(ErrorCategory::kInvalidArgument, "sampling needs at least one logit, got none");
    if (n > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
      fail(ErrorCategory::kInvalidArgument, "vocabulary of ", n, " tokens exceeds int32 ids");
    }
    reserve(n);
    // Branch-free checks in the copy loop; the slow path below only runs to build the message.
    bool any_finite = false;
    bool any_bad = false;
    TokenLogit* out = items_.data();
    for (size_t i = 0; i < n; ++i) {
      const float l = logits[i];
      out[i] = TokenLogit{static_cast<int32_t>(i), l};
      any_finite |= l > detail::kNegInf;                         // false for NaN and -inf
      any_bad |= !(l < std::numeric_limits<float>::infinity());  // NaN or +inf
    }
    size_ = n;
    vocab_size_ = n;
    sorted_ = false;
    selected_ = -1;
    selected_logprob_.reset();
    if (any_bad) {
      for (size_t i = 0; i < n; ++i) {
        if (!(logits[i] < std::numeric_limits<float>::infinity())) {
          size_ = 0;
          fail(ErrorCategory::kInvalidArgument, "logit of token ", i, " is ",
               std::isnan(logits[i]) ? "NaN" : "+inf", ": logits must be finite or -inf");
        }
      }
    }
    if (!any_finite) {
      size_ = 0;
      fail(ErrorCategory::kInvalidArgument, "no token has finite logit (all ", n,
           " logits are -inf)");
    }
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // Length of the logits vector given to the last assign(): ids are in [0, vocab_size()).
  size_t vocab_size() const { return vocab_size_; }

  std::span<TokenLogit> items() { return {items_.data(), size_}; }
  std::span<const TokenLogit> items() const { return {items_.data(), size_}; }

  // The candidate for `id`, or nullptr if it was filtered out. O(1) while candidate i is still
  // token i (right after assign, or after logit-only processors), O(size) otherwise.
  const TokenLogit* find(int32_t id) const {
    if (id < 0) return nullptr;
    const size_t i = static_cast<size_t>(id);
    if (i < size_ && items_[i].id == id) return &items_[i];
    for (size_t j = 0; j < size_; ++j) {
      if (items_[j].id == id) return &items_[j];
    }
    return nullptr;
  }

  bool sorted() const { return sorted_; }
  void set_sorted(bool sorted) { sorted_ = sorted; }

  void sort_descending() {
    if (sorted_) return;
    std::sort(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(size_),
              ByLogitDescending{});
    sorted_ = true;
  }

  // Puts the k best candidates first, in descending order; the rest stay in unspecified order
  // (the whole array counts as sorted only when k covers it). O(size log k).
  void partial_sort_descending(size_t k) {
    if (sorted_) return;
    k = std::min(k, size_);
    const auto first = items_.begin();
    std::partial_sort(first, first + static_cast<std::ptrdiff_t>(k),
                      first + static_cast<std::ptrdiff_t>(size_), ByLogitDescending{});
    if (k + 1 >= size_) sorted_ = true;
  }

  // Keeps the first n candidates (the caller put the ones to keep first).
  void truncate(size_t n) { size_ = std::min(size_, n); }

  // Keeps the candidates for which keep(item) is true, in their current relative order (so a
  // sorted array stays sorted). Returns the new size.
  template <typename Predicate>
  size_t keep_if(Predicate keep) {
    return keep_if_index([&](size_t i) { return keep(items_[i]); });
  }

  // keep_if with the predicate given the item's current index i (for per-index side data). The
  // predicate is evaluated for index i before any item at index >= i is moved.
  template <typename Predicate>
  size_t keep_if_index(Predicate keep) {
    // Branch-free compaction: each item is copied to the cursor, which advances only if kept (a
    // branch would mispredict whenever about half the candidates survive).
    size_t out = 0;
    for (size_t i = 0; i < size_; ++i) {
      const bool kept = keep(i);
      items_[out] = items_[i];
      out += kept;
    }
    size_ = out;
    return out;
  }

  // softmax(logits) of the current candidates, in item order, accumulated in double; stored in a
  // member buffer that the next call (or assign) overwrites. Fails when every logit is -inf.
  std::span<const double> probabilities() {
    const float max = detail::exp_weights(items(), probabilities_.data());
    if (max == detail::kNegInf) detail::fail_no_finite_logit(size_);
    const double sum = detail::sum(probabilities_.data(), size_);
    Eigen::Map<Eigen::ArrayXd>(probabilities_.data(), static_cast<Eigen::Index>(size_)) *=
        1.0 / sum;
    log_normalizer_ = static_cast<double>(max) + std::log(sum);
    return {probabilities_.data(), size_};
  }

  // log sum exp(logits) as of the last probabilities() call: log p(token) = logit - this.
  double log_normalizer() const { return log_normalizer_; }

  // The full distribution over ids [0, vocab_size): removed tokens get probability 0. Allocates
  // `out`; for tests and per-step details, not for the hot path.
  void dense_probabilities(size_t vocab_size, std::vector<double>& out) const {
    out.assign(vocab_size, 0.0);
    const double log_z = detail::log_normalizer(items());
    for (const TokenLogit& t : items()) {
      if (t.id < 0 || static_cast<size_t>(t.id) >= vocab_size) {
        fail(ErrorCategory::kInvalidArgument, "candidate id ", t.id, " is outside a vocabulary of ",
             vocab_size);
      }
      out[static_cast<size_t>(t.id)] = std::exp(static_cast<double>(t.logit) - log_z);
    }
  }

  // Result of a selecting processor: the chosen id (-1 until one ran this step) and, when the
  // selector computed it anyway, its log-probability under the candidates' distribution.
  int32_t selected() const { return selected_; }
  std::optional<double> selected_logprob() const { return selected_logprob_; }
  void select(int32_t id) {
    selected_ = id;
    selected_logprob_.reset();
  }
  void select(int32_t id, double logprob) {
    selected_ = id;
    selected_logprob_ = logprob;
  }

 private:
  std::vector<TokenLogit> items_;      // (capacity) the first size_ are the candidates
  std::vector<double> probabilities_;  // (capacity) softmax of the candidates, item order
  size_t size_ = 0;
  size_t vocab_size_ = 0;
  bool sorted_ = false;
  int32_t selected_ = -1;
  std::optional<double> selected_logprob_;
  double log_normalizer_ = 0.0;
};

}  // namespace genarm::sampling
