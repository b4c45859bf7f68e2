// ArgsPolicy: ARGS, reward-guided search (Khanov et al., "ARGS: Alignment as Reward-Guided
// Search", ICLR 2024) — the baseline GenARM is measured against. At each step the base model's
// top-k tokens are the candidates and each is scored with a trajectory-level reward model run on
// the partial sequence:
//
//     score(c) = log_softmax(base)[c] + w * RM(prefix + c)
//
// next_logits() returns the scores of the k candidates and -inf elsewhere, so the sampler chain
// turns it into ARGS-greedy (argmax) or stochastic ARGS (softmax(score / T) over the k).
// Implemented as well as the method allows: the RM keeps a KV cache of the prefix and scores all
// k candidates in one batched pass over it (Transformer::forward_siblings), and the chosen
// candidate's keys and values are reused when it is appended. Defaults k = 10, w = 1.5.
// Ownership: owns its base source and the RM's sequence state (the RM's weights are shared).
// Thread-safety: not thread-safe (one policy per sequence).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "genarm/core/compiled.hpp"
#include "genarm/core/error.hpp"
#include "genarm/core/math.hpp"
#include "genarm/guidance/logit_source.hpp"
#include "genarm/guidance/transformer_source.hpp"
#include "genarm/model/transformer.hpp"

namespace genarm {

struct ArgsParams {
  int k = 10;      // candidates per step (the base's top-k)
  float w = 1.5f;  // weight of the reward

  void validate() const {
    if (k < 1) fail(ErrorCategory::kInvalidArgument, "ARGS k must be >= 1, got ", k);
    if (!std::isfinite(w)) fail(ErrorCategory::kInvalidArgument, "ARGS w must be finite, got ", w);
  }
};

template <LogitSource Base>
class ArgsPolicy {
 public:
  ArgsPolicy(Base base, model::Transformer reward_model, size_t vocab_size, const ArgsParams& params = {})
      : base_(std::move(base)), rm_(std::move(reward_model)), rm_state_(rm_.new_sequence()), params_(params),
        z_(vocab_size, kNegInf), scratch_(vocab_size) {
    params.validate();
    if (!rm_.is_reward_model()) {
      fail(ErrorCategory::kInvalidArgument, rm_.name(), " is a ", rm_.config().architecture,
           "; ARGS needs a trajectory reward model (*ForSequenceClassification, num_labels 1)");
    }
    if (base_.vocab_size() < vocab_size) {
      fail(ErrorCategory::kInvalidArgument, "the base model gives ", base_.vocab_size(),
           " logits but the tokenizer has ", vocab_size, " tokens");
    }
    if (static_cast<size_t>(rm_.vocab_size()) < vocab_size) {
      fail(ErrorCategory::kInvalidArgument, rm_.name(), ": vocab_size ", rm_.vocab_size(),
           " is smaller than the tokenizer's ", vocab_size, " tokens");
    }
    const size_t k = std::min<size_t>(static_cast<size_t>(params.k), vocab_size);
    candidates_.resize(k);
    rewards_.resize(k);
  }

  size_t vocab_size() const { return z_.size(); }
  size_t num_guides() const { return 0; }
  const ArgsParams& params() const { return params_; }
  Base& base() { return base_; }
  const model::SequenceState& rm_state() const { return rm_state_; }
  void set_thread_pool(ThreadPool* pool) { rm_state_.set_thread_pool(pool); }

  // `guide_prompts` may hold the reward model's own prompt (its template); else it reads the base's.
  void start(std::span<const int32_t> base_prompt, std::span<const std::vector<int32_t>> guide_prompts = {}) {
    if (guide_prompts.size() > 1) {
      fail(ErrorCategory::kInvalidArgument, "ARGS takes one reward-model prompt, got ", guide_prompts.size());
    }
    if (base_prompt.empty()) fail(ErrorCategory::kInvalidArgument, "the prompt is empty: give at least one token (e.g. BOS)");
    base_.reset();
    base_.prefill(base_prompt);
    rm_state_.clear();
    rm_.forward(rm_state_, guide_prompts.empty() ? base_prompt : std::span<const int32_t>(guide_prompts[0]));
    dirty_ = true;
  }

  std::span<const float> next_logits() {
    if (!dirty_) return z_;
    const auto candidates = propose();
    rm_.forward_siblings(rm_state_, candidates, rewards_);
    score(rewards_);
    return z_;
  }

  // The two halves of next_logits(), for a batch engine that scores the candidates of many
  // sequences in one reward-model pass: propose() picks this step's candidates (the base's
  // top-k, best first, ties to the lower id); the caller runs the RM on them as siblings of
  // rm_state() (Transformer::forward_batch) and passes their rewards to score().
  std::span<const int32_t> propose() {
    const auto logits = base_.logits().first(vocab_size());
    base_log_normalizer_ = log_sum_exp(logits);
    const size_t k = candidates_.size();
    std::vector<int32_t>& order = scratch_;
    for (size_t v = 0; v < order.size(); ++v) order[v] = static_cast<int32_t>(v);
    const auto better = [&](int32_t a, int32_t b) {
      return logits[static_cast<size_t>(a)] > logits[static_cast<size_t>(b)] ||
             (logits[static_cast<size_t>(a)] == logits[static_cast<size_t>(b)] && a < b);
    };
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(), better);
    std::copy_n(order.begin(), k, candidates_.begin());
    return candidates_;
  }
  void score(std::span<const float> rewards) {
    GENARM_ASSERT(rewards.size() == candidates_.size());
    if (rewards.data() != rewards_.data()) std::copy(rewards.begin(), rewards.end(), rewards_.begin());
    const auto logits = base_.logits();
    std::fill(z_.begin(), z_.end(), kNegInf);
    for (size_t j = 0; j < candidates_.size(); ++j) {
      const size_t c = static_cast<size_t>(candidates_[j]);
      z_[c] = static_cast<float>(static_cast<double>(logits[c]) - base_log_normalizer_ +
                                 static_cast<double>(params_.w) * rewards_[j]);
    }
    z_log_normalizer_valid_ = false;
    dirty_ = false;
  }
  bool needs_scores() const { return dirty_; }
  model::SequenceState& rm_state() { return rm_state_; }
  const model::Transformer& reward_model() const { return rm_; }

  void advance(int32_t token) {
    if (token < 0 || static_cast<size_t>(token) >= vocab_size()) {
      fail(ErrorCategory::kInvalidArgument, "token ", token, " is outside the vocabulary of ", vocab_size());
    }
    const auto it = dirty_ ? candidates_.end() : std::find(candidates_.begin(), candidates_.end(), token);
    if (it != candidates_.end()) {
      rm_.append_sibling(rm_state_, static_cast<size_t>(it - candidates_.begin()));
    } else {
      rm_.forward(rm_state_, token);  // a token that was not a candidate (e.g. forced by the caller)
    }
    base_.advance(token);
    dirty_ = true;
  }

  // log pi_base(token) at this step (component 0); after next_logits().
  double component_logprob(size_t component, int32_t token) const {
    GENARM_ASSERT(!dirty_ && component == 0);
    return static_cast<double>(base_.logits()[static_cast<size_t>(token)]) - base_log_normalizer_;
  }
  // log softmax(score)[token] over the k candidates.
  double guided_logprob(int32_t token) {
    next_logits();
    if (!z_log_normalizer_valid_) {
      z_log_normalizer_ = log_sum_exp(z_);
      z_log_normalizer_valid_ = true;
    }
    return static_cast<double>(z_[static_cast<size_t>(token)]) - z_log_normalizer_;
  }
  // The candidates and their RM rewards at this step (best base logit first).
  std::span<const int32_t> candidates() const { return candidates_; }
  std::span<const float> candidate_rewards() const { return rewards_; }

  int64_t remaining_context() const {
    int64_t left = rm_state_.max_length() - rm_state_.length();
    if constexpr (requires { base_.max_length(); base_.length(); }) {
      left = std::min(left, base_.max_length() - base_.length());
    }
    return left;
  }
  void reserve(int64_t new_tokens) {
    // The siblings need k slots after the sequence.
    rm_state_.reserve(std::min(rm_state_.max_length(), rm_state_.length() + new_tokens + params_.k));
    if constexpr (requires { base_.max_length(); base_.length(); base_.reserve(int64_t{}); }) {
      base_.reserve(std::min(base_.max_length(), base_.length() + new_tokens));
    }
  }

  ArgsPolicy fork() const {
    ArgsPolicy copy(*this);
    copy.base_ = base_.fork();
    copy.dirty_ = true;
    return copy;
  }

 private:
  Base base_;
  model::Transformer rm_;
  model::SequenceState rm_state_;
  ArgsParams params_;
  std::vector<float> z_;              // (V) scores of the candidates, -inf elsewhere
  std::vector<int32_t> scratch_;      // (V) ids, for the top-k selection
  std::vector<int32_t> candidates_;   // (k)
  std::vector<float> rewards_;        // (k) RM(prefix + candidate)
  double base_log_normalizer_ = 0.0;
  double z_log_normalizer_ = 0.0;
  bool z_log_normalizer_valid_ = false;
  bool dirty_ = true;
};

}  // namespace genarm

#if defined(GENARM_COMPILED_LIB)
// ARGS over the built-in transformer is compiled once, in genarm::compiled.
namespace genarm {
extern template class ArgsPolicy<TransformerSource>;
}  // namespace genarm
#endif
