// TransformerSource: the built-in LogitSource — a Transformer (shared, immutable weights) plus its
// own SequenceState (KV cache, position, logits).
// Ownership: shares the model; owns the state.
// Thread-safety: not thread-safe (one source per sequence); the model may be shared.
#pragma once

#include <cstdint>
#include <span>

#include "genarm/core/thread_pool.hpp"
#include "genarm/guidance/logit_source.hpp"
#include "genarm/model/transformer.hpp"

namespace genarm {

class TransformerSource {
 public:
  explicit TransformerSource(model::Transformer model, int64_t capacity = 0)
      : model_(std::move(model)), state_(model_.new_sequence(capacity)) {
    if (model_.is_reward_model()) {
      fail(ErrorCategory::kInvalidArgument, model_.name(), " is a ", model_.config().architecture,
           " (a trajectory reward model); a logit source needs a causal LM");
    }
  }

  void prefill(std::span<const int32_t> tokens) { model_.forward(state_, tokens); }
  void advance(int32_t token) { model_.forward(state_, token); }
  std::span<const float> logits() const { return state_.logits(); }
  size_t vocab_size() const { return static_cast<size_t>(model_.vocab_size()); }
  void reset() { state_.clear(); }
  TransformerSource fork() const { return *this; }

  void reserve(int64_t tokens) { state_.reserve(tokens); }
  void truncate(int64_t tokens) { state_.truncate(tokens); }
  int64_t length() const { return state_.length(); }
  int64_t max_length() const { return state_.max_length(); }
  void set_thread_pool(ThreadPool* pool) { state_.set_thread_pool(pool); }

  // Logits for every position of `tokens` appended to the history (rows predict the next token).
  void prefill_all(std::span<const int32_t> tokens, model::RowMatrix& rows) {
    model_.forward_all(state_, tokens, rows);
  }

  const model::Transformer& model() const { return model_; }
  const model::SequenceState& state() const { return state_; }

 private:
  model::Transformer model_;
  model::SequenceState state_;
};

static_assert(LogitSource<TransformerSource>);

}  // namespace genarm
