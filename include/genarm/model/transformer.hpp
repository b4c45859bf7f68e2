// Transformer: a decoder-only language model (or its sequence-classification variant) loaded from
// a Hugging Face folder, computing exactly what transformers computes in float32.
// One forward pass serves every supported architecture; the differences are data
// (ArchitectureSpec: RMSNorm or LayerNorm, RoPE or learned positions, gated or plain MLP, biases).
//   prefill / decode : forward(state, tokens) appends tokens to the state's KV cache and returns the
//                      next-token logits after the last one (one token = one decode step);
//   all positions    : forward_all(state, tokens, logits) also returns a row per token;
//   batches          : forward_batch(items, workspace, pool) steps many sequences — each with its
//                      own cache, length and tokens (a decode token, a prompt chunk, ARGS siblings)
//                      — in one pass over the weights (every weight row read once for all rows);
//   reward models    : reward(state) is the score of the last non-pad token.
//   LoRA adapters    : with_adapter(adapter) is the same model with a PEFT LoRA adapter applied
//                      unmerged (y = W x + s B A x) over the same shared weights; a batch item may
//                      also name its own adapter, so one forward_batch over shared weights steps
//                      base rows and rows of several adapters together (GenARM with adapter ARMs
//                      at the cost of one model's weight reads).
// Batch invariance: every row's result is a function of its own sequence only — bit-identical
// whatever else is in the batch, the batch size, how a prompt is split into chunks (a prompt
// prefilled at once gives exactly the logits of decoding it token by token) and the thread count.
// Projections use the fixed-order kernels of detail/matmul.hpp; attention, norms and
// positions are computed row by row.
// Ownership: shares immutable weights (copies of a Transformer are cheap and share them).
// Thread-safety: thread-safe — all methods are const; each sequence has its own SequenceState.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

#include "genarm/core/compiled.hpp"
#include "genarm/core/error.hpp"
#include "genarm/core/thread_pool.hpp"
#include "genarm/io/model_config.hpp"
#include "genarm/model/forward_workspace.hpp"
#include "genarm/model/load_options.hpp"
#include "genarm/model/lora_adapter.hpp"
#include "genarm/model/sequence_state.hpp"
#include "genarm/model/transformer_weights.hpp"

namespace genarm::model {

// One sequence's part of a batched forward pass.
struct BatchItem {
  SequenceState* state = nullptr;
  // Tokens appended in order (at least one) — or, with `siblings`, alternative next tokens all at
  // position state->length(), each attending to the sequence and to itself only, appended to
  // nothing (Transformer::append_sibling keeps one; this is how ARGS scores its k candidates).
  std::span<const int32_t> tokens;
  bool siblings = false;
  // Optional (tokens.size(), vocab_size) row-major output: the logits after every token.
  float* all_logits = nullptr;
  // Optional LoRA adapter for this sequence's rows (it must outlive the call and fit the model);
  // nullptr: the model's own (Transformer::adapter(), usually none).
  const LoraAdapter* adapter = nullptr;
};

class Transformer {
 public:
  // Loads config.json and the weights of a model folder (safetensors or PyTorch .bin, sharded or
  // not), kept in memory as `options` says (as stored by default; see LoadOptions).
  // A PEFT adapter folder (adapter_config.json) loads its base from base_model_name_or_path when
  // that is a local folder (else Error(kInvalidArgument) asking for the base) and applies it.
  static Transformer load(const std::filesystem::path& dir, const LoadOptions& options = {});
  // The adapter in `adapter_dir` applied to the model in `base_dir`.
  static Transformer load(const std::filesystem::path& adapter_dir, const std::filesystem::path& base_dir,
                          const LoadOptions& options = {});
  // The adapter in `adapter_dir` applied to `base` (sharing base's weights: the same object).
  static Transformer load_adapter(const std::filesystem::path& adapter_dir, const Transformer& base);
  explicit Transformer(std::shared_ptr<const TransformerWeights> weights);

  const io::ModelConfig& config() const { return weights_->config; }
  const TransformerWeights& weights() const { return *weights_; }
  const std::string& name() const { return name_; }
  int64_t vocab_size() const { return config().vocab_size; }
  bool is_reward_model() const { return config().head == io::ModelHead::kSequenceClassification; }
  const std::shared_ptr<const TransformerWeights>& shared_weights() const { return weights_; }

  // This model with `adapter` applied (nullptr: the base alone), sharing the weights; named after
  // the adapter. Error(kInvalidArgument) if the adapter was read for a base of another shape.
  Transformer with_adapter(std::shared_ptr<const LoraAdapter> adapter) const;
  // The adapter applied to every row of this model's passes (nullptr: none).
  const std::shared_ptr<const LoraAdapter>& adapter() const { return adapter_; }

  // A new, empty sequence with room for `capacity` tokens (0: grow on demand).
  SequenceState new_sequence(int64_t capacity = 0) const;

  // Appends `tokens` and returns the logits after the last one (empty for reward models).
  // Error(kInvalidArgument) for an id outside the vocabulary or a sequence beyond the context.
  std::span<const float> forward(SequenceState& s, std::span<const int32_t> tokens) const;
  std::span<const float> forward(SequenceState& s, int32_t token) const {
    return forward(s, std::span<const int32_t>(&token, 1));
  }

  // As forward(), and fills `logits` with one row of vocab_size floats per token.
  void forward_all(SequenceState& s, std::span<const int32_t> tokens, RowMatrix& logits) const;

  // Runs every item through the model in passes over the weights (every weight row read once per
  // pass for all the rows of the pass). Afterwards each state's logits() (causal LM) or scores
  // (reward model) are those after its last token, exactly as forward() on that state alone would
  // have left them. Items must belong to different states. `pool` splits each pass across
  // threads (nullptr: the calling thread). Every item is validated before anything runs: on
  // Error(kInvalidArgument) no state has changed.
  void forward_batch(std::span<const BatchItem> items, ForwardWorkspace& workspace, ThreadPool* pool) const;

  // Evaluates `candidates` as alternative next tokens after the sequence in one batched pass — each
  // attends to the cached prefix and to itself only — without appending anything. For a reward
  // model, rewards[j] = reward(prefix + candidates[j]); for a causal LM, `logits` (if given) gets
  // one row per candidate. append_sibling() then appends one of them reusing its keys and values.
  // This is how ARGS scores its top-k candidates: one pass over the weights instead of k forwards.
  void forward_siblings(SequenceState& s, std::span<const int32_t> candidates, std::span<float> rewards,
                        RowMatrix* logits = nullptr) const;
  // The rewards of the candidates of the last sibling pass on `s` (reward models; after
  // forward_batch with a siblings item), rewards[j] for candidates[j].
  void sibling_rewards(const SequenceState& s, std::span<float> rewards) const;

  // Appends candidate `index` of the last sibling pass on this state, reusing its keys and values
  // (no forward pass).
  void append_sibling(SequenceState& s, size_t index) const;

  // The reward-model score of the sequence so far: the score head applied to the last token that
  // is not the pad token (transformers' pooling for *ForSequenceClassification).
  float reward(const SequenceState& s) const;

 private:
  // Rows per pass: bounds the workspace (a long prompt takes several passes; per-row invariance
  // makes the split invisible in the results).
  static constexpr int64_t kPassRows = 128;
  // Rows per output-head product: bounds the logits buffer for large vocabularies.
  static constexpr int64_t kHeadRows = 32;
  // Elementwise work (the MLP activation) goes to the pool from this many elements on.
  static constexpr size_t kParallelElements = 1 << 15;

  struct Buffers {
    float *x, *xn, *q, *k, *v, *att, *tmp, *a, *b, *hidden, *logits, *scores;
    int64_t score_stride;  // floats per worker in `scores`
    float* lora_u;         // (rows, max rank) A x of the adapted rows
    const ForwardWorkspace::LoraRun* runs;  // (run_count) adapted row ranges of the pass
    size_t run_count;
  };
  Buffers buffers(ForwardWorkspace& ws, int64_t rows, int64_t max_keys, size_t workers) const;

  // The adapter of an item (its own, else the model's).
  const LoraAdapter* adapter_of(const BatchItem& item) const {
    return item.adapter != nullptr ? item.adapter : adapter_.get();
  }
  // y[t] += s B (A x[t]) for the adapted rows of the pass (each run of rows sharing an adapter in
  // one product per factor; a row's result depends on its row and adapter only).
  void add_lora(int64_t layer, LoraTarget target, const float* x, int64_t in, float* y, int64_t out,
                const Buffers& buf, ThreadPool* pool) const;

  void check_item(const BatchItem& item) const;
  void check_state(const SequenceState& s) const;

  // One pass: rows [row_begin, row_end) of the concatenated items (each item's rows in order).
  void run_pass(std::span<const BatchItem> items, std::span<const int64_t> offsets, int64_t row_begin,
                int64_t row_end, ForwardWorkspace& ws, ThreadPool* pool) const;

  // xn[t] = norm(x[t]) for n rows (RMSNorm or LayerNorm, float32 output, double accumulation).
  void normalize(const NormWeights& norm, const float* x, float* out, int64_t n) const;
  float score_row(const float* hidden_row, float* scratch) const;

  static void add_bias(float* y, const std::vector<float>& bias, int64_t n, int64_t dim);
  static void linear(const WeightMatrix& m, const std::vector<float>& bias, const float* x, int64_t n, float* y,
                     ThreadPool* pool);

  // Rotates pairs (i, i + d/2) of every head of a row by position * inv_freq[i] (transformers'
  // rotate_half).
  void apply_rope(float* row, int64_t heads, int64_t pos) const;

  // Causal self-attention of the pass's rows over their sequences' caches.
  void attention(std::span<const BatchItem> items, const ForwardWorkspace::Row* rows, int64_t n,
                 const LayerWeights& L, int64_t layer, const Buffers& buf, ThreadPool* pool) const;

  void mlp(const LayerWeights& L, int64_t layer, const Buffers& buf, int64_t n, ThreadPool* pool) const;

  static float activate(io::Activation act, float x);

  std::shared_ptr<const TransformerWeights> weights_;
  std::shared_ptr<const LoraAdapter> adapter_;  // applied to rows without their own
  std::string name_ = "model";
};

}  // namespace genarm::model

#if defined(GENARM_HEADER_ONLY)
#include "genarm/model/transformer-inl.hpp"
#endif
