// BatchGenerator: continuous batching of guided generations over one GuidedModel. Many requests —
// each with its own prompts, ARMs and weights, beta, sampler and seed, limits and callbacks — are
// decoded together: every step runs the base model once for all running sequences and each ARM
// once for the sequences that use it (Transformer::forward_batch: one pass over the weights), then
// samples each sequence's next token (SequenceDecoder, as generate() does). Models that share
// their weights — ARMs that are LoRA adapters of the base (Transformer::with_adapter), or the base
// itself — are stepped together: one forward_batch over the shared weights holds the base's and
// those ARMs' rows (each with its adapter's low-rank terms), so GenARM with adapter ARMs reads
// the weights once per step, as the base alone does. Sequences finish at
// their own time (EOS, stop strings, token budget, the callback) and waiting requests take the
// freed slots at the next step without disturbing the others. A request with samples = N
// prefills its prompt once and continues it N times (best-of-N).
// Batch invariance: a request's tokens, text and per-token log-probs are exactly those of
// generate() on it alone with the same parameters, whatever else is in the batch (the forward
// pass is batch-invariant, see model/transformer.hpp; prompts may be prefilled in chunks).
// Ownership: refers to the model (which must outlive it); owns its slots and buffers.
// Thread-safety: submit(), cancel() and stats() are thread-safe; step() and run() must be called
// from one thread at a time (the engine's), which is also where every callback runs.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "genarm/core/compiled.hpp"
#include "genarm/core/thread_pool.hpp"
#include "genarm/generate/generation_config.hpp"
#include "genarm/generate/generation_result.hpp"
#include "genarm/generate/generator.hpp"
#include "genarm/guidance/args_policy.hpp"
#include "genarm/guidance/guided_model.hpp"
#include "genarm/sampling/sampler_params.hpp"

namespace genarm {

struct BatchRequest {
  Prompts prompts;            // the base's prompt, and optionally one per entry of `arms`
  std::vector<size_t> arms;   // which of the model's ARMs guide it (indices); empty: the base alone
  Guidance guidance;          // one weight per entry of `arms` (empty: all 1), beta
  // Set: decoded by ARGS with the engine's reward model instead (no ARMs; prompts.guides may hold
  // the reward model's own prompt). Its k candidates of every sequence are scored in one pass.
  std::optional<ArgsParams> args;
  sampling::SamplerParams sampler;  // its seed is the request's (sample i of N uses seed + i)
  GenerationConfig config;          // eos_token_ids empty: the model's
  int samples = 1;                  // > 1: best-of-N style continuations sharing the prefill
  StreamCallback on_text;           // optional: text as it completes (false stops the request)
  // Optional: called after every sampled token with the text it completed (maybe empty) and the
  // result so far (its last id, details and top log-probs are this token's); false stops it.
  std::function<bool(std::string_view piece, const GenerationResult& so_far)> on_token;
  // Called once per sample when it ends (sample index in [0, samples)).
  std::function<void(uint64_t id, int sample, GenerationResult result)> on_done;
  // Called instead of on_done if the request fails after it was accepted (e.g. a prompt longer
  // than a model's context); without it, step() rethrows.
  std::function<void(uint64_t id, const std::string& message)> on_error;
};

struct BatchOptions {
  size_t max_batch = 8;           // sequences decoded together
  int64_t max_step_tokens = 256;  // prompt tokens prefilled per model per step (chunked prefill)
};

// Counters of a BatchGenerator, for progress lines and metrics.
struct BatchStats {
  uint64_t steps = 0;            // forward steps run
  uint64_t generated = 0;        // tokens sampled
  uint64_t prompt_tokens = 0;    // prompt tokens prefilled (every model's prompt counted)
  uint64_t completed = 0;        // samples finished
  uint64_t batch_rows = 0;       // sum over steps of the sequences sampled (mean batch = / steps)
  double step_seconds = 0.0;     // time spent in step()
  size_t running = 0;            // sequences in slots now
  size_t waiting = 0;            // requests queued
};

class BatchSource;

class BatchGenerator {
 public:
  using Options = BatchOptions;
  using Stats = BatchStats;

  // `reward_model` (optional, a trajectory RM sharing the tokenizer) serves ARGS requests.
  explicit BatchGenerator(const GuidedModel& model, BatchOptions options = {}, ThreadPool* pool = nullptr,
                          const model::Transformer* reward_model = nullptr);
  ~BatchGenerator();
  BatchGenerator(const BatchGenerator&) = delete;
  BatchGenerator& operator=(const BatchGenerator&) = delete;

  // Queues a request; it joins the running batch at a later step. Validates it now:
  // Error(kInvalidArgument) for an empty prompt, an unknown ARM index, bad guidance, sampler or
  // limits, or samples outside [1, max_batch]. Returns its id.
  uint64_t submit(BatchRequest request);
  // Ends a request at the next step (its on_done reports StopReason::kCallback).
  void cancel(uint64_t id);

  // One step: admits waiting requests into free slots, runs every model's forward pass for the
  // running sequences, samples their next tokens and finishes those that are done. Returns false
  // when there was nothing to do (no request running or waiting).
  bool step();
  // Steps until every request has finished.
  void run();

  Stats stats() const;
  const GuidedModel& model() const { return *model_; }
  const Options& options() const { return options_; }

 private:
  struct Request;
  struct Slot;

  void admit();
  void start_slot(Slot& slot, const std::shared_ptr<Request>& request, int sample);
  void fork_into(Slot& from, Slot& to, int sample);
  void forward(size_t group);
  void score_args();
  void sample_ready();
  void finish(Slot& slot);
  void fail_slot(Slot& slot, const std::string& message);
  BatchSource* source_of(Slot& slot, size_t model_index);
  const model::Transformer& model_at(size_t model_index) const;

  const GuidedModel* model_;
  Options options_;
  ThreadPool* pool_;
  const model::Transformer* reward_model_;
  model::ForwardWorkspace rm_workspace_;
  std::vector<std::unique_ptr<Slot>> slots_;
  // Models sharing one TransformerWeights form a group, stepped by one forward_batch.
  std::vector<std::vector<size_t>> groups_;           // (groups) their models (0: the base, 1 + a: ARM a)
  std::vector<model::Transformer> runners_;           // (groups) the shared weights, no adapter
  std::vector<model::ForwardWorkspace> workspaces_;  // (groups) one per group
  std::vector<model::BatchItem> items_;               // this step's items of one group
  std::vector<Slot*> item_slots_;                     // (items_) their slots
  std::vector<size_t> item_models_;                   // (items_) their models
  std::vector<Slot*> ready_;                          // slots sampling this step
  std::chrono::steady_clock::time_point step_start_;

  mutable std::mutex mutex_;  // guards the members below
  std::deque<std::shared_ptr<Request>> waiting_;
  std::vector<uint64_t> cancelled_;
  uint64_t next_id_ = 1;
  Stats stats_;
};

}  // namespace genarm

#if defined(GENARM_HEADER_ONLY)
#include "genarm/generate/batch_generator-inl.hpp"
#endif
