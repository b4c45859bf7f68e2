// Transformer: a decoder-only language model (or its sequence-classification variant) loaded from
// a Hugging Face folder, computing exactly what transformers computes in float32.
// One forward pass serves every supported architecture; the differences are data
// (ArchitectureSpec: RMSNorm or LayerNorm, RoPE or learned positions, gated or plain MLP, biases).
//   prefill / decode : forward(state, tokens) appends tokens to the state's KV cache and returns the
//                      next-token logits after the last one (one token = one decode step);
//   all positions    : forward_all(state, tokens, logits) also returns a row per token;
//   reward models    : reward(state) is the score of the last non-pad token.
// Ownership: shares immutable weights (copies of a Transformer are cheap and share them).
// Thread-safety: thread-safe — all methods are const; each sequence has its own SequenceState.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <memory>
#include <span>
#include <string>

#include "genarm/core/compiled.hpp"
#include "genarm/core/error.hpp"
#include "genarm/core/thread_pool.hpp"
#include "genarm/io/model_config.hpp"
#include "genarm/model/sequence_state.hpp"
#include "genarm/model/transformer_weights.hpp"

namespace genarm::model {

class Transformer {
 public:
  // Loads config.json and the safetensors weights of a model folder.
  static Transformer load(const std::filesystem::path& dir);
  explicit Transformer(std::shared_ptr<const TransformerWeights> weights);

  const io::ModelConfig& config() const { return weights_->config; }
  const TransformerWeights& weights() const { return *weights_; }
  const std::string& name() const { return name_; }
  int64_t vocab_size() const { return config().vocab_size; }
  bool is_reward_model() const { return config().head == io::ModelHead::kSequenceClassification; }

  // A new, empty sequence with room for `capacity` tokens (0: grow on demand).
  SequenceState new_sequence(int64_t capacity = 0) const;

  // Appends `tokens` and returns the logits after the last one (empty for reward models).
  // Error(kInvalidArgument) for an id outside the vocabulary or a sequence beyond the context.
  std::span<const float> forward(SequenceState& s, std::span<const int32_t> tokens) const {
    run(s, tokens, nullptr);
    return s.logits();
  }
  std::span<const float> forward(SequenceState& s, int32_t token) const {
    return forward(s, std::span<const int32_t>(&token, 1));
  }

  // As forward(), and fills `logits` with one row of vocab_size floats per token.
  void forward_all(SequenceState& s, std::span<const int32_t> tokens, RowMatrix& logits) const;

  // Evaluates `candidates` as alternative next tokens after the sequence in one batched pass — each
  // attends to the cached prefix and to itself only — without appending anything. For a reward
  // model, rewards[j] = reward(prefix + candidates[j]); for a causal LM, `logits` (if given) gets
  // one row per candidate. append_sibling() then appends one of them reusing its keys and values.
  // This is how ARGS scores its top-k candidates: one pass over the weights instead of k forwards.
  void forward_siblings(SequenceState& s, std::span<const int32_t> candidates, std::span<float> rewards,
                        RowMatrix* logits = nullptr) const;

  // Appends candidate `index` of the last forward_siblings() on this state, reusing its keys and
  // values (no forward pass).
  void append_sibling(SequenceState& s, size_t index) const;

  // The reward-model score of the sequence so far: the score head applied to the last token that
  // is not the pad token (transformers' pooling for *ForSequenceClassification).
  float reward(const SequenceState& s) const;

 private:
  static constexpr int64_t kChunk = 64;  // prefill rows per pass: bounds scratch memory

  struct Scratch {
    float *x, *xn, *q, *k, *v, *att, *tmp, *a, *b, *scores;
    int64_t score_stride;  // floats per worker in `scores`
  };

  Scratch scratch(SequenceState& s, int64_t rows) const;

  void check_tokens(const SequenceState& s, std::span<const int32_t> tokens) const;

  void check_state(const SequenceState& s) const;

  void run(SequenceState& s, std::span<const int32_t> tokens, float* all_logits) const;

  // Runs n tokens at positions length()..length()+n-1 through the model — or, for `siblings`, n
  // alternative tokens all at position length(), each seeing the prefix and itself.
  void forward_chunk(SequenceState& s, std::span<const int32_t> tokens, float* all_logits, bool last_chunk,
                     bool siblings = false) const;

  // Appends the score head's value at every position of the chunk (reward() pools one of them).
  void update_score(SequenceState& s, std::span<const int32_t> tokens, const Scratch& sc) const;
  // The score head on row t of the chunk's hidden states.
  float score_row(const Scratch& sc, int64_t t) const;

  // xn[t] = norm(x[t]) for n rows (RMSNorm or LayerNorm, float32 output, double accumulation).
  void normalize(const NormWeights& norm, const float* x, float* out, int64_t n) const;

  static void add_rows(float* x, const float* delta, int64_t n, int64_t h);
  static void add_bias(float* y, const std::vector<float>& bias, int64_t n, int64_t dim);
  static void linear(const WeightMatrix& m, const std::vector<float>& bias, const float* x,
                     int64_t n, float* y, ThreadPool* pool);

  // Rotates pairs (i, i + d/2) of every head by position * inv_freq[i] (transformers' rotate_half).
  // Row t is at position p0 + t, or p0 for every row when `same_position` (siblings).
  void apply_rope(float* x, int64_t n, int64_t heads, int64_t p0, bool same_position) const;

  // Causal self-attention of n new rows over the cache; with `siblings`, row t (at position p0)
  // sees the prefix [0, p0) and its own key at slot p0 + t only.
  void attention(SequenceState& s, const LayerWeights& L, int64_t layer, const Scratch& sc,
                 int64_t n, int64_t p0, bool siblings) const;

  void mlp(const LayerWeights& L, const Scratch& sc, int64_t n, ThreadPool* pool) const;

  static float activate(io::Activation act, float x);

  std::shared_ptr<const TransformerWeights> weights_;
  std::string name_ = "model";
};

}  // namespace genarm::model

#if defined(GENARM_HEADER_ONLY)
#include "genarm/model/transformer-inl.hpp"
#endif
