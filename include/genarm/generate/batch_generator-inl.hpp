// Out-of-line definitions of batch_generator.hpp (see core/compiled.hpp).
#pragma once

#include <algorithm>
#include <chrono>

#include "genarm/generate/batch_generator.hpp"
#include "genarm/generate/sequence_decoder.hpp"
#include "genarm/guidance/batch_source.hpp"
#include "genarm/guidance/guided_policy.hpp"
#include "genarm/sampling/sampler.hpp"

namespace genarm {

// A submitted request, shared by the slots of its samples.
struct BatchGenerator::Request {
  uint64_t id = 0;
  BatchRequest spec;
  std::chrono::steady_clock::time_point admitted;
};

// One running sequence: its states (base and every ARM, reused from request to request), its
// policy over them, its sampler and decoder.
struct BatchGenerator::Slot {
  std::shared_ptr<Request> request;  // null: free
  int sample = 0;
  bool reserved = false;          // waiting for the prefill of its request's sample 0 (fork)
  bool started = false;           // decoder begun
  bool cancelled = false;
  std::vector<model::SequenceState> states;  // (1 + ARMs): [0] base, [1 + a] ARM a
  std::unique_ptr<GuidedPolicy<BatchSource>> policy;  // GenARM (or the base alone)
  std::unique_ptr<ArgsPolicy<BatchSource>> args;      // or ARGS
  std::vector<float> rewards;                         // (k) ARGS candidates' rewards this step
  std::unique_ptr<sampling::Sampler> sampler;
  std::unique_ptr<SequenceDecoder> decoder;
  std::vector<int32_t> guide_of_model;  // (1 + ARMs): the policy's guide index of each ARM, -1 if unused
  std::string piece;                    // text of this step's sample()
  double share = 0.0;                   // its share of the steps' time so far (cost_seconds)
  std::exception_ptr error;             // from this step's sample()

  bool busy() const { return request != nullptr; }
  bool ready() const {
    if (args) return args->base().ready();
    if (!policy) return false;
    if (!policy->base().ready()) return false;
    for (size_t g = 0; g < policy->num_guides(); ++g) {
      if (!policy->guide(g).ready()) return false;
    }
    return true;
  }
  void release() {
    request.reset();
    policy.reset();
    args.reset();
    decoder.reset();
  }
  // Calls fn(policy) with whichever policy decodes this slot.
  template <typename Fn>
  decltype(auto) with_policy(Fn&& fn) {
    if (args) return fn(*args);
    return fn(*policy);
  }
};

GENARM_INLINE BatchGenerator::BatchGenerator(const GuidedModel& model, BatchOptions options, ThreadPool* pool,
                                             const model::Transformer* reward_model)
    : model_(&model), options_(options), pool_(pool), reward_model_(reward_model) {
  if (reward_model_ != nullptr && !reward_model_->is_reward_model()) {
    fail(ErrorCategory::kInvalidArgument, reward_model_->name(), " is a ", reward_model_->config().architecture,
         ", not a trajectory reward model (*ForSequenceClassification with num_labels 1)");
  }
  if (options_.max_batch < 1) fail(ErrorCategory::kInvalidArgument, "BatchGenerator: max_batch must be >= 1");
  if (options_.max_step_tokens < 1) fail(ErrorCategory::kInvalidArgument, "BatchGenerator: max_step_tokens must be >= 1");
  const size_t models = 1 + model.num_arms();
  for (size_t m = 0; m < models; ++m) {
    const model::Transformer& t = model_at(m);
    size_t g = 0;
    while (g < groups_.size() && model_at(groups_[g][0]).shared_weights() != t.shared_weights()) ++g;
    if (g == groups_.size()) {
      groups_.emplace_back();
      runners_.push_back(t.with_adapter(nullptr));
    }
    groups_[g].push_back(m);
  }
  workspaces_.resize(groups_.size());
  for (size_t i = 0; i < options_.max_batch; ++i) {
    auto slot = std::make_unique<Slot>();
    for (size_t m = 0; m < models; ++m) slot->states.push_back(model_at(m).new_sequence());
    slot->guide_of_model.assign(models, -1);
    slots_.push_back(std::move(slot));
  }
  items_.reserve(options_.max_batch * models);
  item_slots_.reserve(options_.max_batch * models);
  item_models_.reserve(options_.max_batch * models);
  ready_.reserve(options_.max_batch);
}

GENARM_INLINE BatchGenerator::~BatchGenerator() = default;

GENARM_INLINE const model::Transformer& BatchGenerator::model_at(size_t m) const {
  return m == 0 ? model_->base() : model_->arms()[m - 1];
}

GENARM_INLINE uint64_t BatchGenerator::submit(BatchRequest request) {
  if (request.prompts.base.empty()) {
    fail(ErrorCategory::kInvalidArgument, "the prompt is empty: give at least one token (e.g. BOS)");
  }
  for (size_t a : request.arms) {
    if (a >= model_->num_arms()) {
      fail(ErrorCategory::kInvalidArgument, "ARM index ", a, " is out of range: the model has ", model_->num_arms(),
           " ARM(s)");
    }
  }
  for (size_t i = 0; i < request.arms.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (request.arms[i] == request.arms[j]) fail(ErrorCategory::kInvalidArgument, "ARM ", request.arms[i], " is given twice");
    }
  }
  if (!request.args && !request.prompts.guides.empty() && request.prompts.guides.size() != request.arms.size()) {
    fail(ErrorCategory::kInvalidArgument, "got ", request.prompts.guides.size(), " ARM prompts for ",
         request.arms.size(), " ARMs");
  }
  for (size_t i = 0; i < request.prompts.guides.size(); ++i) {
    if (request.prompts.guides[i].empty()) fail(ErrorCategory::kInvalidArgument, "the prompt of ARM ", i + 1, " is empty");
  }
  request.guidance.validate(request.arms.size());
  if (request.args) {
    request.args->validate();
    if (reward_model_ == nullptr) fail(ErrorCategory::kInvalidArgument, "ARGS needs a reward model, and none is loaded");
    if (!request.arms.empty()) fail(ErrorCategory::kInvalidArgument, "an ARGS request takes no ARMs");
    if (request.samples != 1) fail(ErrorCategory::kInvalidArgument, "an ARGS request takes samples = 1");
    if (request.prompts.guides.size() > 1) {
      fail(ErrorCategory::kInvalidArgument, "ARGS takes one reward-model prompt, got ", request.prompts.guides.size());
    }
  }
  request.sampler.validate();
  request.config.validate();
  if (request.samples < 1 || static_cast<size_t>(request.samples) > options_.max_batch) {
    fail(ErrorCategory::kInvalidArgument, "samples must be in [1, ", options_.max_batch, "] (the batch size), got ",
         request.samples);
  }
  for (int32_t t : request.prompts.base) {
    if (t < 0 || static_cast<size_t>(t) >= model_->vocab_size()) {
      fail(ErrorCategory::kInvalidArgument, "prompt token ", t, " is outside the vocabulary of ", model_->vocab_size());
    }
  }
  if (request.config.eos_token_ids.empty() && !request.config.ignore_eos) {
    request.config.eos_token_ids = model_->eos_token_ids();
  }
  auto r = std::make_shared<Request>();
  r->spec = std::move(request);
  std::lock_guard<std::mutex> lock(mutex_);
  r->id = next_id_++;
  waiting_.push_back(r);
  stats_.waiting = waiting_.size();
  return r->id;
}

GENARM_INLINE void BatchGenerator::cancel(uint64_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  cancelled_.push_back(id);
}

GENARM_INLINE BatchGenerator::Stats BatchGenerator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

GENARM_INLINE void BatchGenerator::start_slot(Slot& slot, const std::shared_ptr<Request>& request, int sample) {
  const BatchRequest& spec = request->spec;
  slot.request = request;
  slot.sample = sample;
  slot.started = false;
  slot.cancelled = false;
  slot.reserved = false;
  slot.share = 0.0;
  std::fill(slot.guide_of_model.begin(), slot.guide_of_model.end(), -1);
  BatchSource base(model_->base(), slot.states[0]);
  if (spec.args) {
    slot.args = std::make_unique<ArgsPolicy<BatchSource>>(std::move(base), *reward_model_, model_->vocab_size(),
                                                          *spec.args);
    slot.rewards.assign(slot.args->candidates().size(), 0.0f);
  } else {
    std::vector<BatchSource> guides;
    guides.reserve(spec.arms.size());
    for (size_t g = 0; g < spec.arms.size(); ++g) {
      guides.emplace_back(model_->arms()[spec.arms[g]], slot.states[1 + spec.arms[g]]);
      slot.guide_of_model[1 + spec.arms[g]] = static_cast<int32_t>(g);
    }
    slot.policy = std::make_unique<GuidedPolicy<BatchSource>>(std::move(base), std::move(guides), model_->vocab_size(),
                                                              spec.guidance);
  }
  sampling::SamplerParams params = spec.sampler;
  params.seed = spec.sampler.seed + static_cast<uint64_t>(sample);
  slot.sampler = std::make_unique<sampling::Sampler>(params, model_->vocab_size());
  slot.decoder = std::make_unique<SequenceDecoder>(model_->tokenizer(), *slot.sampler, spec.config);
}

GENARM_INLINE void BatchGenerator::admit() {
  std::vector<std::shared_ptr<Request>> admitted;
  std::vector<std::shared_ptr<Request>> dropped;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (uint64_t id : cancelled_) {
      for (auto& slot : slots_) {
        if (slot->busy() && slot->request->id == id) slot->cancelled = true;
      }
      for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
        if ((*it)->id == id) {
          dropped.push_back(*it);
          waiting_.erase(it);
          break;
        }
      }
    }
    cancelled_.clear();
    size_t free = 0;
    for (const auto& slot : slots_) free += slot->busy() ? 0 : 1;
    while (!waiting_.empty() && static_cast<size_t>(waiting_.front()->spec.samples) <= free) {
      admitted.push_back(waiting_.front());
      free -= static_cast<size_t>(waiting_.front()->spec.samples);
      waiting_.pop_front();
    }
    stats_.waiting = waiting_.size();
  }
  // Cancelled sequences that have not started decoding end now, with nothing generated.
  for (auto& slot : slots_) {
    if (!slot->busy() || !slot->cancelled || slot->started) continue;
    auto request = slot->request;
    const int sample = slot->sample;
    slot->release();
    GenerationResult result;
    result.stop_reason = StopReason::kCallback;
    if (request->spec.on_done) request->spec.on_done(request->id, sample, std::move(result));
  }
  for (const auto& r : dropped) {
    for (int s = 0; s < r->spec.samples; ++s) {
      GenerationResult result;
      result.stop_reason = StopReason::kCallback;
      if (r->spec.on_done) r->spec.on_done(r->id, s, std::move(result));
    }
  }
  for (const auto& r : admitted) {
    r->admitted = std::chrono::steady_clock::now();
    bool first = true;
    for (int s = 0; s < r->spec.samples; ++s) {
      Slot* slot = nullptr;
      for (auto& candidate : slots_) {
        if (!candidate->busy()) {
          slot = candidate.get();
          break;
        }
      }
      GENARM_ASSERT(slot != nullptr);
      if (first) {
        start_slot(*slot, r, 0);
        // Every model must hold the prompt and at least one generated token.
        try {
          for (size_t m = 0; m < slot->states.size(); ++m) {
            BatchSource* src = source_of(*slot, m);
            if (src == nullptr) continue;
            const std::vector<int32_t>& prompt =
                m == 0 || slot->args || r->spec.prompts.guides.empty()
                    ? r->spec.prompts.base
                    : r->spec.prompts.guides[static_cast<size_t>(slot->guide_of_model[m])];
            if (static_cast<int64_t>(prompt.size()) >= src->max_length()) {
              fail(ErrorCategory::kInvalidArgument, "a prompt of ", prompt.size(), " tokens leaves no room in ",
                   model_at(m).name(), "'s context of ", src->max_length(), " positions");
            }
          }
          if (slot->args) {
            slot->args->start(r->spec.prompts.base, r->spec.prompts.guides);
          } else {
            slot->policy->start(r->spec.prompts.base, r->spec.prompts.guides);
          }
        } catch (const Error& e) {
          // The other samples were not placed yet: the request fails as a whole.
          fail_slot(*slot, e.what());
          break;
        }
        {
          std::lock_guard<std::mutex> lock(mutex_);
          stats_.prompt_tokens += r->spec.prompts.base.size();
          for (const auto& g : r->spec.prompts.guides) stats_.prompt_tokens += g.size();
        }
        first = false;
      } else {
        slot->request = r;
        slot->sample = s;
        slot->reserved = true;
        slot->policy.reset();
      }
    }
  }
}

GENARM_INLINE BatchSource* BatchGenerator::source_of(Slot& slot, size_t m) {
  if (slot.args) return m == 0 ? &slot.args->base() : nullptr;
  if (!slot.policy) return nullptr;
  if (m == 0) return &slot.policy->base();
  const int32_t g = slot.guide_of_model[m];
  return g < 0 ? nullptr : &slot.policy->guide(static_cast<size_t>(g));
}

GENARM_INLINE void BatchGenerator::forward(size_t g) {
  items_.clear();
  item_slots_.clear();
  item_models_.clear();
  for (const size_t m : groups_[g]) {
    // Each model's rows together (one run per adapter): its decoding sequences first (one token
    // each), then prompt chunks within its budget.
    const model::LoraAdapter* adapter = model_at(m).adapter().get();
    const size_t first = items_.size();
    int64_t budget = options_.max_step_tokens;
    for (int pass = 0; pass < 2; ++pass) {
      for (auto& slot : slots_) {
        BatchSource* src = source_of(*slot, m);
        if (src == nullptr || src->ready()) continue;
        const bool decoding = slot->started;
        if ((pass == 0) != decoding) continue;
        int64_t take = static_cast<int64_t>(src->pending().size());
        if (!decoding) {
          take = std::min(take, std::max<int64_t>(budget, items_.size() == first ? 1 : 0));
          if (take == 0) continue;
        }
        budget -= take;
        items_.push_back({&src->state(), src->pending().first(static_cast<size_t>(take)), false, nullptr, adapter});
        item_slots_.push_back(slot.get());
        item_models_.push_back(m);
      }
    }
  }
  if (items_.empty()) return;
  runners_[g].forward_batch(items_, workspaces_[g], pool_);
  for (size_t i = 0; i < items_.size(); ++i) {
    source_of(*item_slots_[i], item_models_[i])->consumed(items_[i].tokens.size());
  }
}

GENARM_INLINE void BatchGenerator::fork_into(Slot& from, Slot& to, int sample) {
  auto request = from.request;
  start_slot(to, request, sample);
  for (size_t m = 0; m < from.states.size(); ++m) {
    if (source_of(from, m) != nullptr) to.states[m].copy_from(from.states[m]);
  }
}

GENARM_INLINE void BatchGenerator::fail_slot(Slot& slot, const std::string& message) {
  auto request = slot.request;
  slot.release();
  // Reserved siblings of the same request are released too.
  for (auto& other : slots_) {
    if (other->request == request) other->release();
  }
  if (request->spec.on_error) {
    request->spec.on_error(request->id, message);
  } else {
    throw Error(ErrorCategory::kInvalidArgument, message);
  }
}

GENARM_INLINE void BatchGenerator::finish(Slot& slot) {
  auto request = slot.request;
  const auto& on_text = request->spec.on_text;
  slot.decoder->finish([&](std::string_view piece) {
    if (on_text && !slot.cancelled) on_text(piece);
  });
  GenerationResult result = std::move(slot.decoder->result());
  result.cost_seconds = slot.share;
  if (slot.cancelled && result.stop_reason != StopReason::kCallback) result.stop_reason = StopReason::kCallback;
  slot.release();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++stats_.completed;
  }
  if (request->spec.on_done) request->spec.on_done(request->id, slot.sample, std::move(result));
}

// ARGS sequences' candidates, all scored by the reward model in one pass (as siblings of each
// sequence's RM state).
GENARM_INLINE void BatchGenerator::score_args() {
  items_.clear();
  item_slots_.clear();
  for (Slot* slot : ready_) {
    if (!slot->args || !slot->args->needs_scores()) continue;
    items_.push_back({&slot->args->rm_state(), slot->args->propose(), true, nullptr});
    item_slots_.push_back(slot);
  }
  if (items_.empty()) return;
  try {
    reward_model_->forward_batch(items_, rm_workspace_, pool_);
  } catch (const Error& e) {
    for (Slot* slot : item_slots_) fail_slot(*slot, e.what());
    return;
  }
  for (Slot* slot : item_slots_) {
    reward_model_->sibling_rewards(slot->args->rm_state(), slot->rewards);
    slot->args->score(slot->rewards);
  }
}

GENARM_INLINE void BatchGenerator::sample_ready() {
  // Prefill done: a request's other samples continue from copies of its first sequence.
  for (auto& slot : slots_) {
    if (!slot->busy() || slot->reserved || slot->started || !slot->ready()) continue;
    for (auto& other : slots_) {
      if (other->reserved && other->request == slot->request) fork_into(*slot, *other, other->sample);
    }
  }
  ready_.clear();
  for (auto& slot : slots_) {
    if (slot->busy() && !slot->reserved && slot->ready()) ready_.push_back(slot.get());
  }
  for (Slot* slot : ready_) {
    if (!slot->started) {
      const auto now = std::chrono::steady_clock::now();
      slot->with_policy([&](auto& policy) { slot->decoder->begin(policy, slot->request->spec.prompts); });
      slot->decoder->result().prefill_seconds = std::chrono::duration<double>(now - slot->request->admitted).count();
      slot->started = true;
    }
  }
  score_args();
  // Sampling is independent per sequence: side by side on the pool.
  auto body = [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      Slot& s = *ready_[i];
      s.error = nullptr;
      if (!s.busy()) continue;  // failed while its ARGS candidates were scored
      try {
        s.piece = s.with_policy([&](auto& policy) -> const std::string& { return s.decoder->sample(policy); });
      } catch (...) {
        s.error = std::current_exception();
      }
    }
  };
  if (pool_ != nullptr && pool_->size() > 1 && ready_.size() > 1) {
    pool_->parallel_for(ready_.size(), body);
  } else {
    body(0, ready_.size());
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.generated += ready_.size();
    stats_.batch_rows += ready_.size();
  }
  // This step's time so far, shared by the sequences that took part (prefilling or sampling).
  size_t taking_part = 0;
  for (const auto& slot : slots_) taking_part += slot->busy() && !slot->reserved ? 1 : 0;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - step_start_).count();
  for (auto& slot : slots_) {
    if (slot->busy() && !slot->reserved) slot->share += elapsed / static_cast<double>(taking_part);
  }
  for (Slot* slot : ready_) {
    if (!slot->busy()) continue;
    if (slot->error) {
      try {
        std::rethrow_exception(slot->error);
      } catch (const Error& e) {
        fail_slot(*slot, e.what());
        continue;
      }
    }
    const auto& spec = slot->request->spec;
    const bool shown = !slot->cancelled && (!spec.on_token || spec.on_token(slot->piece, slot->decoder->result())) &&
                       (slot->piece.empty() || !spec.on_text || spec.on_text(slot->piece));
    const bool more = slot->with_policy([&](auto& policy) {
      if (!slot->decoder->proceed(policy, shown)) return false;
      policy.advance(slot->decoder->token());
      return true;
    });
    if (!more) {
      finish(*slot);
    }
  }
}

GENARM_INLINE bool BatchGenerator::step() {
  const auto t0 = std::chrono::steady_clock::now();
  step_start_ = t0;
  admit();
  bool busy = false;
  for (const auto& slot : slots_) busy |= slot->busy();
  if (!busy) {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.running = 0;
    return !waiting_.empty();
  }
  for (size_t g = 0; g < groups_.size(); ++g) forward(g);
  sample_ready();
  std::lock_guard<std::mutex> lock(mutex_);
  ++stats_.steps;
  stats_.step_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  size_t running = 0;
  for (const auto& slot : slots_) running += slot->busy() ? 1 : 0;
  stats_.running = running;
  return true;
}

GENARM_INLINE void BatchGenerator::run() {
  while (step()) {
  }
}

}  // namespace genarm
