// BatchSource: a LogitSource whose forward passes are run by someone else — a batch engine that
// steps many sequences of the same model in one pass over its weights. prefill() and advance()
// only queue tokens; the engine takes the queued tokens of every source of a model
// (pending()), runs them through Transformer::forward_batch, and marks them consumed();
// logits() then reads the sequence's state. A GuidedPolicy over BatchSources is therefore the
// same GenARM policy as over TransformerSources, with the forward passes batched.
// Ownership: refers to (does not own) the model and the sequence state, which the engine keeps.
// Thread-safety: not thread-safe (one source per sequence).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "genarm/core/error.hpp"
#include "genarm/guidance/logit_source.hpp"
#include "genarm/model/sequence_state.hpp"
#include "genarm/model/transformer.hpp"

namespace genarm {

class BatchSource {
 public:
  BatchSource(const model::Transformer& model, model::SequenceState& state) : model_(&model), state_(&state) {}

  void prefill(std::span<const int32_t> tokens) { pending_.insert(pending_.end(), tokens.begin(), tokens.end()); }
  void advance(int32_t token) { pending_.push_back(token); }
  std::span<const float> logits() const { return state_->logits(); }
  size_t vocab_size() const { return static_cast<size_t>(model_->vocab_size()); }
  void reset() {
    state_->clear();
    pending_.clear();
  }
  // A batch source cannot copy itself: its engine forks sequences (it owns the states).
  BatchSource fork() const {
    fail(ErrorCategory::kInvalidArgument, "a BatchSource is forked by its batch engine, not by fork()");
  }

  // Tokens in the history, queued ones included.
  int64_t length() const { return state_->length() + static_cast<int64_t>(pending_.size()); }
  int64_t max_length() const { return state_->max_length(); }
  void reserve(int64_t tokens) {
    state_->reserve(tokens);
    pending_.reserve(static_cast<size_t>(std::max<int64_t>(tokens - state_->length(), 1)));
  }

  // The engine's side.
  const model::Transformer& model() const { return *model_; }
  model::SequenceState& state() const { return *state_; }
  std::span<const int32_t> pending() const { return pending_; }
  bool ready() const { return pending_.empty(); }
  void consumed(size_t n) { pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n)); }

 private:
  const model::Transformer* model_;
  model::SequenceState* state_;
  std::vector<int32_t> pending_;  // queued for the next batched forward pass
};

static_assert(LogitSource<BatchSource>);

}  // namespace genarm
