// GuidedPolicy: the next-token distribution of reward-guided decoding, over the tokenizer's
// vocabulary V, from a frozen base model and N guides (autoregressive reward models, ARMs):
//
//     z = log_softmax(base) + sum_i (w_i / beta) * log_softmax(arm_i)
//
// (GenARM, Xu et al., ICLR 2025). Weights and beta may change between requests or between steps
// without reloading anything. Each source keeps its own token history: it receives the prompt in
// its own template (its own prompt tokens), then the same generated tokens as the others. With no
// guides the policy is the base model alone. Beyond GenARM, set_coefficients() takes any signed
// coefficients (classifier-free guidance, proxy-tuning, contrastive decoding) and set_filter()
// restricts the result to what one component finds plausible.
// The sampler chain (temperature, top-k, ...) is applied to z by the caller.
// Ownership: owns its sources (a Transformer source shares the model's weights) and buffers.
// Thread-safety: not thread-safe (one policy per sequence); fork() for an independent copy.
#pragma once

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "genarm/core/compiled.hpp"
#include "genarm/core/error.hpp"
#include "genarm/core/thread_pool.hpp"
#include "genarm/guidance/combination.hpp"
#include "genarm/guidance/component_filter.hpp"
#include "genarm/guidance/logit_source.hpp"

namespace genarm {

// The GenARM knobs: one weight per ARM and beta (the KL-regularisation strength; alpha = 1/beta in
// the official code). Error(kInvalidArgument) for beta <= 0 or not finite, or a non-finite weight.
struct Guidance {
  std::vector<float> weights;  // one per guide; empty = 1 for every guide
  float beta = 1.0f;

  void validate(size_t guides) const {
    if (!(beta > 0.0f) || !std::isfinite(beta)) {
      fail(ErrorCategory::kInvalidArgument, "beta must be a finite number > 0, got ", beta);
    }
    if (!weights.empty() && weights.size() != guides) {
      fail(ErrorCategory::kInvalidArgument, "got ", weights.size(), " weight(s) for ", guides,
           " ARM(s): give one weight per ARM");
    }
    for (size_t i = 0; i < weights.size(); ++i) {
      if (!std::isfinite(weights[i])) {
        fail(ErrorCategory::kInvalidArgument, "weight ", i + 1, " is ", weights[i], ": weights must be finite");
      }
    }
  }
  // Coefficient of guide i in z (w_i / beta).
  float coefficient(size_t i) const { return (weights.empty() ? 1.0f : weights[i]) / beta; }
};

template <LogitSource Base, LogitSource Guide = Base>
class GuidedPolicy {
 public:
  // `vocab_size` is the tokenizer's vocabulary V; every source must give at least V logits.
  GuidedPolicy(Base base, std::vector<Guide> guides, size_t vocab_size, const Guidance& guidance = {})
      : base_(std::move(base)), guides_(std::move(guides)), combination_(vocab_size) {
    if (vocab_size == 0) fail(ErrorCategory::kInvalidArgument, "GuidedPolicy: vocabulary size 0");
    check_vocab(base_.vocab_size(), "the base model");
    for (size_t i = 0; i < guides_.size(); ++i) {
      check_vocab(guides_[i].vocab_size(), "ARM " + std::to_string(i + 1));
    }
    const size_t n = 1 + guides_.size();
    coefficients_.assign(n, 1.0f);
    filters_.assign(n, ComponentFilter{});
    log_normalizers_.assign(n, 0.0);
    spans_.resize(n);
    set_guidance(guidance);
  }

  size_t vocab_size() const { return combination_.vocab_size(); }
  size_t num_guides() const { return guides_.size(); }
  size_t num_components() const { return 1 + guides_.size(); }
  Base& base() { return base_; }
  const Base& base() const { return base_; }
  Guide& guide(size_t i) { return guides_.at(i); }
  const Guide& guide(size_t i) const { return guides_.at(i); }

  // GenARM weights and beta: coefficient 1 for the base, w_i / beta for guide i.
  void set_guidance(const Guidance& guidance) {
    guidance.validate(guides_.size());
    coefficients_[0] = 1.0f;
    for (size_t i = 0; i < guides_.size(); ++i) coefficients_[i + 1] = guidance.coefficient(i);
    dirty_ = true;
  }
  // Any finite coefficients, component 0 being the base.
  void set_coefficients(std::span<const float> coefficients) {
    if (coefficients.size() != num_components()) {
      fail(ErrorCategory::kInvalidArgument, "got ", coefficients.size(), " coefficients for ",
           num_components(), " components (base + ", guides_.size(), " guides)");
    }
    for (size_t i = 0; i < coefficients.size(); ++i) {
      if (!std::isfinite(coefficients[i])) {
        fail(ErrorCategory::kInvalidArgument, "coefficient ", i, " is ", coefficients[i], ": must be finite");
      }
    }
    coefficients_.assign(coefficients.begin(), coefficients.end());
    dirty_ = true;
  }
  std::span<const float> coefficients() const { return coefficients_; }

  // Restricts the decoding distribution to what `component` (0 = base) finds plausible.
  void set_filter(size_t component, const ComponentFilter& filter) {
    if (component >= num_components()) {
      fail(ErrorCategory::kInvalidArgument, "no component ", component, " (have ", num_components(), ")");
    }
    filter.validate();
    filters_[component] = filter;
    any_filter_ = false;
    for (const auto& f : filters_) any_filter_ |= f.active();
    dirty_ = true;
  }

  // Starts a sequence: every source forgets its history and reads its own prompt.
  // `guide_prompts` may be empty (every guide reads `base_prompt`) or hold one prompt per guide.
  void start(std::span<const int32_t> base_prompt, std::span<const std::vector<int32_t>> guide_prompts = {}) {
    if (!guide_prompts.empty() && guide_prompts.size() != guides_.size()) {
      fail(ErrorCategory::kInvalidArgument, "got ", guide_prompts.size(), " ARM prompts for ",
           guides_.size(), " ARMs");
    }
    if (base_prompt.empty()) fail(ErrorCategory::kInvalidArgument, "the prompt is empty: give at least one token (e.g. BOS)");
    for (size_t i = 0; i < guide_prompts.size(); ++i) {
      if (guide_prompts[i].empty()) fail(ErrorCategory::kInvalidArgument, "the prompt of ARM ", i + 1, " is empty");
    }
    for_each_source([&](auto& source, size_t component) {
      source.reset();
      source.prefill(component == 0 || guide_prompts.empty() ? base_prompt
                                                              : std::span<const int32_t>(guide_prompts[component - 1]));
    });
    dirty_ = true;
  }

  // Appends a generated token to every source.
  void advance(int32_t token) {
    if (token < 0 || static_cast<size_t>(token) >= vocab_size()) {
      fail(ErrorCategory::kInvalidArgument, "token ", token, " is outside the vocabulary of ", vocab_size());
    }
    for_each_source([&](auto& source, size_t) { source.advance(token); });
    dirty_ = true;
  }

  // Runs the sources' forward passes side by side on `pool` (base and ARMs concurrently, each on
  // one thread) instead of one after the other; nullptr turns it off. The sources must then not
  // use the same pool themselves (a pool runs one loop at a time).
  void set_source_parallelism(ThreadPool* pool) { source_pool_ = pool; }

  // How many more tokens every source can take before its context is full (INT64_MAX for sources
  // without a limit).
  int64_t remaining_context() const {
    int64_t left = remaining(base_);
    for (const auto& g : guides_) left = std::min(left, remaining(g));
    return left;
  }
  // Makes room for `new_tokens` more tokens in every source (capped at its context), so that the
  // decoding loop does not allocate.
  void reserve(int64_t new_tokens) {
    reserve_in(base_, new_tokens);
    for (auto& g : guides_) reserve_in(g, new_tokens);
  }

  // The decoding logits z (V floats) for the current histories.
  std::span<const float> next_logits() {
    if (dirty_) {
      spans_[0] = base_.logits();
      for (size_t i = 0; i < guides_.size(); ++i) spans_[i + 1] = guides_[i].logits();
      combination_.combine(spans_, coefficients_,
                           any_filter_ ? std::span<const ComponentFilter>(filters_) : std::span<const ComponentFilter>{},
                           log_normalizers_);
      z_log_normalizer_valid_ = false;
      dirty_ = false;
    }
    return combination_.z();
  }

  // log p_component(token) at the current step (0 = base, i = guide i); after next_logits().
  double component_logprob(size_t component, int32_t token) const {
    GENARM_ASSERT(!dirty_ && component < num_components());
    return static_cast<double>(spans_[component][static_cast<size_t>(token)]) - log_normalizers_[component];
  }
  // log softmax(z)[token]: the guided distribution at temperature 1, before the sampler chain.
  double guided_logprob(int32_t token) {
    next_logits();
    if (!z_log_normalizer_valid_) {
      z_log_normalizer_ = log_sum_exp(combination_.z());
      z_log_normalizer_valid_ = true;
    }
    return static_cast<double>(combination_.z()[static_cast<size_t>(token)]) - z_log_normalizer_;
  }

  // An independent copy continuing from the same histories (every source forked).
  GuidedPolicy fork() const {
    std::vector<Guide> guides;
    guides.reserve(guides_.size());
    for (const auto& g : guides_) guides.push_back(g.fork());
    GuidedPolicy copy(base_.fork(), std::move(guides), vocab_size());
    copy.coefficients_ = coefficients_;
    copy.filters_ = filters_;
    copy.any_filter_ = any_filter_;
    copy.source_pool_ = source_pool_;
    return copy;
  }

 private:
  // Calls fn(source, component) for the base (component 0) and every guide — concurrently when a
  // source pool is set. The first error (in component order) is rethrown once all have run.
  template <typename Fn>
  void for_each_source(Fn&& fn) {
    const size_t n = num_components();
    if (source_pool_ == nullptr || source_pool_->size() < 2 || n < 2) {
      fn(base_, size_t{0});
      for (size_t i = 0; i < guides_.size(); ++i) fn(guides_[i], i + 1);
      return;
    }
    errors_.assign(n, nullptr);
    source_pool_->parallel_for(n, [&](size_t begin, size_t end) {
      for (size_t c = begin; c < end; ++c) {
        try {
          if (c == 0) {
            fn(base_, c);
          } else {
            fn(guides_[c - 1], c);
          }
        } catch (...) {
          errors_[c] = std::current_exception();
        }
      }
    });
    for (const auto& e : errors_) {
      if (e) std::rethrow_exception(e);
    }
  }

  template <typename S>
  static int64_t remaining(const S& s) {
    if constexpr (requires { s.max_length(); s.length(); }) {
      return s.max_length() - s.length();
    } else {
      return std::numeric_limits<int64_t>::max();
    }
  }
  template <typename S>
  static void reserve_in(S& s, int64_t new_tokens) {
    if constexpr (requires { s.max_length(); s.length(); s.reserve(int64_t{}); }) {
      s.reserve(std::min(s.max_length(), s.length() + new_tokens));
    }
  }

  void check_vocab(size_t source_vocab, const std::string& who) const {
    if (source_vocab < vocab_size()) {
      fail(ErrorCategory::kInvalidArgument, who, " gives ", source_vocab,
           " logits but the tokenizer has ", vocab_size(), " tokens");
    }
  }

  Base base_;
  std::vector<Guide> guides_;
  Combination combination_;
  std::vector<float> coefficients_;        // (1 + guides)
  std::vector<ComponentFilter> filters_;   // (1 + guides)
  bool any_filter_ = false;
  std::vector<double> log_normalizers_;    // (1 + guides) log sum exp of each component's logits
  std::vector<std::span<const float>> spans_;  // (1 + guides) this step's logits
  bool dirty_ = true;
  ThreadPool* source_pool_ = nullptr;           // runs the sources concurrently, if set
  std::vector<std::exception_ptr> errors_;      // (1 + guides) per-source errors of a concurrent step
  double z_log_normalizer_ = 0.0;
  bool z_log_normalizer_valid_ = false;
};

}  // namespace genarm

#if defined(GENARM_COMPILED_LIB)
// The policy over the built-in transformer is compiled once, in genarm::compiled.
#include "genarm/guidance/transformer_source.hpp"
namespace genarm {
extern template class GuidedPolicy<TransformerSource>;
}  // namespace genarm
#endif
