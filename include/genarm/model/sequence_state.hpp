// SequenceState: everything that belongs to one sequence being decoded by a Transformer — its
// token history, the KV cache, the position, the last logits, scratch buffers — kept apart from
// the immutable weights so that one loaded model serves any number of sequences and threads.
// Buffers are sized when the state is created or reserve()d; decoding within the reserved length
// does not allocate. Copying a state forks the sequence (the used part of the cache is copied).
// Ownership: owns its buffers; refers to (does not own) an optional ThreadPool.
// Thread-safety: not thread-safe; one state per sequence, used by one thread at a time.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "genarm/core/error.hpp"
#include "genarm/core/thread_pool.hpp"
#include "genarm/io/model_config.hpp"
#include "genarm/model/forward_workspace.hpp"

namespace genarm::model {

class Transformer;

class SequenceState {
 public:
  SequenceState() = default;

  int64_t length() const { return static_cast<int64_t>(tokens_.size()); }  // tokens in the cache
  int64_t capacity() const { return capacity_; }
  int64_t max_length() const { return max_length_; }  // the model's context (max_position_embeddings)
  std::span<const int32_t> tokens() const { return tokens_; }

  // Logits after the last token (vocab_size floats), valid after a forward of a causal LM.
  std::span<const float> logits() const { return {logits_.data(), logits_.size()}; }

  // Makes room for `tokens` tokens in total (allocates once; later growth doubles).
  void reserve(int64_t tokens) {
    if (tokens <= capacity_) return;
    if (tokens > max_length_) {
      fail(ErrorCategory::kInvalidArgument, "a sequence of ", tokens,
           " tokens exceeds the model's context of ", max_length_,
           " positions (max_position_embeddings)");
    }
    grow(std::min(max_length_, std::max(tokens, 2 * capacity_)));
  }

  // Forgets every token (the next forward starts at position 0); keeps the buffers.
  void clear() { truncate(0); }
  // Drops tokens after the first `length` (rollback, e.g. after rejected speculative tokens).
  void truncate(int64_t length) {
    if (length < 0 || length > this->length()) {
      fail(ErrorCategory::kInvalidArgument, "cannot truncate a sequence of ", this->length(),
           " tokens to ", length);
    }
    tokens_.resize(static_cast<size_t>(length));
    if (scores_.size() > tokens_.size()) scores_.resize(tokens_.size());
    sibling_base_ = -1;
  }

  // Makes this state a copy of `other` (same model), reusing this state's buffers when they are
  // large enough: the allocation-free fork for search-style decoding.
  void copy_from(const SequenceState& other) {
    if (this == &other) return;
    if (layers_ != other.layers_ || kv_heads_ != other.kv_heads_ || head_dim_ != other.head_dim_) {
      *this = other;
      return;
    }
    if (capacity_ < other.length()) grow(std::max(other.length(), other.capacity_));
    copy_cache_prefix(other, other.length());
    tokens_.assign(other.tokens_.begin(), other.tokens_.end());
    logits_.assign(other.logits_.begin(), other.logits_.end());
    scores_.assign(other.scores_.begin(), other.scores_.end());
    pool_ = other.pool_;
  }

  SequenceState(const SequenceState& other) { copy_construct(other); }
  SequenceState& operator=(const SequenceState& other) {
    if (this != &other) {
      SequenceState copy(other);
      *this = std::move(copy);
    }
    return *this;
  }
  SequenceState(SequenceState&&) noexcept = default;
  SequenceState& operator=(SequenceState&&) noexcept = default;

  // The pool used by forward passes of this sequence (nullptr: the calling thread only).
  ThreadPool* thread_pool() const { return pool_; }
  void set_thread_pool(ThreadPool* pool) { pool_ = pool; }

 private:
  friend class Transformer;

  SequenceState(const io::ModelConfig& c, int64_t capacity)
      : layers_(c.num_hidden_layers),
        kv_heads_(c.num_key_value_heads),
        head_dim_(c.head_dim),
        max_length_(c.max_position_embeddings),
        classifier_(c.head == io::ModelHead::kSequenceClassification) {
    logits_.assign(c.head == io::ModelHead::kCausalLM ? static_cast<size_t>(c.vocab_size) : 0, 0.0f);
    tokens_.reserve(static_cast<size_t>(std::min(capacity, max_length_)));
    reserve(std::min(std::max<int64_t>(capacity, 1), max_length_));
  }

  // Offset of (layer, kv_head, position 0) in the caches: layout (layer, kv_head, capacity, head_dim).
  size_t cache_offset(int64_t layer, int64_t kv_head) const {
    return static_cast<size_t>(((layer * kv_heads_ + kv_head) * capacity_) * head_dim_);
  }
  float* k_cache(int64_t layer, int64_t kv_head) { return k_.data() + cache_offset(layer, kv_head); }
  float* v_cache(int64_t layer, int64_t kv_head) { return v_.data() + cache_offset(layer, kv_head); }

  void grow(int64_t new_capacity) {
    SequenceState old;
    old.layers_ = layers_;
    old.kv_heads_ = kv_heads_;
    old.head_dim_ = head_dim_;
    old.capacity_ = capacity_;
    old.k_.swap(k_);
    old.v_.swap(v_);
    capacity_ = new_capacity;
    const size_t total = static_cast<size_t>(layers_ * kv_heads_ * capacity_ * head_dim_);
    k_.assign(total, 0.0f);
    v_.assign(total, 0.0f);
    tokens_.reserve(static_cast<size_t>(capacity_));
    if (classifier_) scores_.reserve(static_cast<size_t>(capacity_));
    if (old.capacity_ > 0) copy_cache_prefix(old, length());
  }

  void copy_cache_prefix(const SequenceState& from, int64_t length) {
    const size_t n = static_cast<size_t>(length * head_dim_);
    for (int64_t l = 0; l < layers_; ++l) {
      for (int64_t h = 0; h < kv_heads_; ++h) {
        std::copy_n(from.k_.data() + from.cache_offset(l, h), n, k_.data() + cache_offset(l, h));
        std::copy_n(from.v_.data() + from.cache_offset(l, h), n, v_.data() + cache_offset(l, h));
      }
    }
  }

  void copy_construct(const SequenceState& other) {
    layers_ = other.layers_;
    kv_heads_ = other.kv_heads_;
    head_dim_ = other.head_dim_;
    max_length_ = other.max_length_;
    classifier_ = other.classifier_;
    tokens_.reserve(static_cast<size_t>(other.capacity_));
    if (other.capacity_ > 0) grow(other.capacity_);
    copy_from(other);
  }

  int64_t layers_ = 0, kv_heads_ = 0, head_dim_ = 0;
  int64_t capacity_ = 0;    // positions the cache can hold without growing
  int64_t max_length_ = 0;  // the model's context
  std::vector<float> k_;    // (layers, kv_heads, capacity, head_dim)
  std::vector<float> v_;    // (layers, kv_heads, capacity, head_dim)
  std::vector<int32_t> tokens_;
  std::vector<float> logits_;  // (vocab_size), causal LMs only
  // Sequence classification: the score head on every position (length), so that the pooled
  // position (the last non-pad token) is still known after truncate().
  bool classifier_ = false;
  std::vector<float> scores_;
  ThreadPool* pool_ = nullptr;
  // The last Transformer::forward_siblings: its candidates (their keys and values sit in the cache
  // right after the sequence), their scores (reward models) or logits rows (causal LMs).
  int64_t sibling_base_ = -1;  // length() when they were computed; -1 = none
  std::vector<int32_t> sibling_tokens_;
  std::vector<float> sibling_scores_;
  std::vector<float> sibling_logits_;  // (siblings, vocab_size)
  // Scratch of this sequence's own forward passes (Transformer::forward); not part of the
  // sequence's value (copies start without it and size it at their first forward).
  ForwardWorkspace workspace_;
};

}  // namespace genarm::model
