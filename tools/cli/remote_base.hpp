// A remote base for `genarm generate`: --base http://HOST:PORT/v1 names a model served by an
// OpenAI-compatible engine (vLLM, SGLang, llama.cpp's server, genarm serve) instead of a folder;
// the ARMs stay local (remote/remote_source.hpp). Prompts run one at a time through the
// single-sequence loop (the batch engine steps local models only; the remote engine batches
// across its callers). A failure of the engine mid-generation reports the partial result (the
// tokens and text so far, as a JSON line on stderr) before the error.
#pragma once

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "args.hpp"
#include "common.hpp"
#include "genarm/generate/result_json.hpp"
#include "genarm/generate/sequence_decoder.hpp"
#include "genarm/guidance/guided_model.hpp"
#include "genarm/guidance/guided_policy.hpp"
#include "genarm/guidance/transformer_source.hpp"
#include "genarm/remote/remote_source.hpp"
#include "methods.hpp"
#include "tokenizer_check.hpp"

namespace genarm::cli {

inline bool is_remote_base(const std::string& base) {
  return base.rfind("http://", 0) == 0 || base.rfind("https://", 0) == 0;
}

inline std::vector<OptionSpec> remote_base_options() {
  return {
      {"--base-model", "NAME", "remote base: the engine's model id (default the first it lists)"},
      {"--base-top-k", "K", "remote base: log-probs asked per token (default 20; 0 = the vocabulary). GenARM then "
                            "combines over the base's top-K tokens only (as ARGS pre-screens); raise the engine's cap "
                            "(vLLM --max-logprobs, genarm serve --max-logprobs all) for larger K"},
      {"--base-api-key", "KEY", "remote base: Bearer key (default $GENARM_BASE_API_KEY)"},
      {"--base-tokenizer", "DIR", "remote base: the local copy of its tokenizer (default the first --arm)"},
      {"--base-timeout", "S", "remote base: seconds one answer may take (default 120)"},
      {"--base-retries", "N", "remote base: retries after 429 / 5xx / no answer, with backoff (default 4)"},
      {"--base-no-tokenizer-check", "", "remote base: do not compare the engine's /tokenize with the local tokenizer"},
  };
}

// The flags above with a remote base given a local one: a usage error.
inline void refuse_remote_flags_without_remote(const Args& a) {
  for (const auto& o : remote_base_options()) {
    if (a.has(o.name)) throw UsageError(o.name + " goes with a remote base (--base http://HOST:PORT/v1)");
  }
}

inline remote::RemoteOptions remote_options(const Args& a, const std::string& url) {
  remote::RemoteOptions o;
  o.url = url;
  o.model = a.get_or("--base-model", "");
  o.top_k = static_cast<int>(a.get_int("--base-top-k", 20, 0, 1 << 24));
  const char* env_key = std::getenv("GENARM_BASE_API_KEY");
  o.http.api_key = a.get_or("--base-api-key", env_key != nullptr ? env_key : "");
  o.http.read_timeout = a.get_double("--base-timeout", 120.0);
  if (!(o.http.read_timeout > 0)) fail(ErrorCategory::kInvalidArgument, "--base-timeout: expected seconds > 0");
  o.http.retries = static_cast<int>(a.get_int("--base-retries", 4, 0, 100));
  o.check_tokenizer = !a.flag("--base-no-tokenizer-check");
  return o;
}

// GenARM (or the remote base alone) with local ARMs, one prompt at a time.
class RemoteRunner {
 public:
  using Policy = GuidedPolicy<remote::RemoteSource, TransformerSource>;

  RemoteRunner(const Args& a, const std::string& url, const std::vector<std::string>& arms, ModelCache& cache,
               const Guidance& guidance, const sampling::SamplerParams& sampler, const GenerationConfig& config,
               ThreadPool* pool)
      : guidance_(guidance), sampler_(sampler), config_(config), pool_(pool) {
    const std::string tok = a.get_or("--base-tokenizer", arms.empty() ? "" : arms[0]);
    if (tok.empty()) {
      throw UsageError("a remote base without --arm needs --base-tokenizer DIR (a local copy of its tokenizer)");
    }
    // The local "base" part only supplies the tokenizer, the EOS ids and the ARM checks; its
    // weights are memory-mapped, never run (shared with the ARM when it is the first ARM).
    std::vector<GuidedModel::Part> parts;
    const std::string tok_name = resolve_model(tok).string();
    for (const auto& arm : arms) {
      check_reads_base_ids(cache.tokenizer(tok), tok_name, cache.tokenizer(arm), "ARM", resolve_model(arm).string(),
                           "GenARM needs base and ARMs to share one tokenizer");
    }
    for (const auto& arm : arms) parts.push_back(cache.part(arm));
    model_ = std::make_unique<GuidedModel>(GuidedModel::assemble(cache.part(tok), std::move(parts)));
    for (const auto& note : model_->compatibility_notes()) print_note_once(note);
    guidance_.validate(model_->num_arms());
    config_.eos_token_ids = model_->eos_token_ids();
    engine_ = remote::RemoteEngine::connect(remote_options(a, url), model_->tokenizer());
  }

  const Tokenizer& tokenizer() const { return model_->tokenizer(); }
  const remote::RemoteEngine& engine() const { return *engine_; }

  // One prompt. On failure, `partial` (if given) receives what was generated before it.
  GenerationResult run(const Prompts& prompts, uint64_t seed, const StreamCallback& on_text,
                       GenerationResult* partial = nullptr) {
    std::vector<TransformerSource> guides;
    for (const auto& m : model_->arms()) guides.emplace_back(m);
    const bool across = pool_ != nullptr && pool_->size() >= 2 && !guides.empty();
    if (!across) {
      for (auto& g : guides) g.set_thread_pool(pool_);
    }
    Policy policy(remote::RemoteSource(engine_), std::move(guides), model_->vocab_size(), guidance_);
    // The engine's answer is awaited while the ARMs run their forward passes.
    if (across) policy.set_source_parallelism(pool_);
    sampling::SamplerParams params = sampler_;
    params.seed = seed;
    sampling::Sampler sampler(params, model_->vocab_size());
    config_.validate();
    SequenceDecoder decoder(model_->tokenizer(), sampler, config_);
    try {
      policy.start(prompts.base, prompts.guides);
      decoder.begin(policy, prompts);
      for (;;) {
        const std::string& piece = decoder.sample(policy);
        const bool shown = piece.empty() || !on_text || on_text(piece);
        if (!decoder.proceed(policy, shown)) break;
        policy.advance(decoder.token());
      }
      decoder.finish([&](std::string_view piece) {
        if (on_text) on_text(piece);
      });
    } catch (const Error&) {
      if (partial != nullptr) *partial = decoder.result();
      throw;
    }
    last_stats_ = policy.base().stats();
    GenerationResult r = std::move(decoder.result());
    r.cost_seconds = r.decode_seconds;
    return r;
  }

  const remote::RemoteStats& last_stats() const { return last_stats_; }

 private:
  std::unique_ptr<GuidedModel> model_;
  std::shared_ptr<const remote::RemoteEngine> engine_;
  Guidance guidance_;
  sampling::SamplerParams sampler_;
  GenerationConfig config_;
  ThreadPool* pool_;
  remote::RemoteStats last_stats_;
};

// The partial result of a failed generation, as one JSON line on stderr.
inline void report_partial(const GenerationResult& partial, const nlohmann::json& id, const std::string& error) {
  nlohmann::json j = to_json(partial, false);
  if (!id.is_null()) j["id"] = id;
  j["partial"] = true;
  j["error"] = error;
  std::fprintf(stderr, "genarm generate: the remote base failed after %zu new token(s); partial result: %s\n",
               partial.ids.size(), j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  std::fflush(stderr);
}

}  // namespace genarm::cli
