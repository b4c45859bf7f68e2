// genarm::server — the OpenAI wire protocol, without sockets: a request body (JSON) is validated
// into a ParsedRequest (prompts encoded, sampler, limits, guidance resolved to ARM indices), and
// results are turned into the response and stream-chunk objects OpenAI clients parse
// (openai-python's types: Completion, ChatCompletion, ChatCompletionChunk, CompletionUsage).
//
// Guidance is genarm's extension, an object OpenAI clients send through `extra_body`:
//   "guidance": {"arms": {"positive": 0.7, "concise": 0.3}, "beta": 0.5}            GenARM
//   "guidance": {"method": "best-of-n", "n": 4, "reward": "rm", "arms": {...}}     best-of-N
//   "guidance": {"method": "args", "reward": "rm", "k": 10, "w": 1.5}              ARGS
// ARMs and RMs are named as the server was started (--arm NAME=DIR, --rm NAME=DIR). No guidance
// (or no ARM) is the base model alone.
//
// Every mistake is an ApiError carrying the HTTP status and the OpenAI error object
// {"error": {"message", "type", "param", "code"}}: wrong types, values out of range, unknown
// fields (OpenAI rejects them too), unknown ARMs, prompts over the limits, invalid UTF-8 (the JSON
// parser refuses it).
// Thread-safety: free functions over caller-owned values; ServedModels is immutable once built.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "genarm/chat/chat_template.hpp"
#include "genarm/generate/generation_config.hpp"
#include "genarm/generate/generation_result.hpp"
#include "genarm/generate/sequence_decoder.hpp"
#include "genarm/guidance/args_policy.hpp"
#include "genarm/guidance/guided_model.hpp"
#include "genarm/sampling/sampler_params.hpp"
#include "genarm/tokenizer/tokenizer.hpp"

#if defined(GENARM_SERVER_COMPILED_LIB)
#define GENARM_SERVER_INLINE
#else
#define GENARM_SERVER_INLINE inline
#endif

namespace genarm::server {

using Json = nlohmann::ordered_json;

// An HTTP error with OpenAI's error object. `type` is OpenAI's ("invalid_request_error",
// "server_error", ...); `param` names the offending field (empty: null); `code` is a short
// machine-readable reason (empty: null).
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string param = {}, std::string code = {},
           std::string type = "invalid_request_error")
      : std::runtime_error(message), status_(status), type_(std::move(type)), param_(std::move(param)),
        code_(std::move(code)) {}

  int status() const { return status_; }
  const std::string& type() const { return type_; }
  const std::string& param() const { return param_; }
  const std::string& code() const { return code_; }
  // {"error": {"message": ..., "type": ..., "param": ... | null, "code": ... | null}}
  Json body() const;

 private:
  int status_;
  std::string type_, param_, code_;
};

// OpenAI's error object for a status with no more specific message (404 route, 413, ...).
GENARM_SERVER_INLINE Json error_body(int status, const std::string& message, const std::string& param = {},
                                     const std::string& code = {}, const std::string& type = {});

// Bounds on what one request may ask for.
struct ServerLimits {
  size_t max_body_bytes = size_t{1} << 20;  // request body (HTTP 413 above)
  size_t max_prompt_tokens = 0;             // per prompt; 0 = the base model's context - 1
  int max_tokens = 2048;                    // max_tokens / max_completion_tokens at most
  int max_n = 0;                            // n, best_of, guidance.n at most; 0 = the batch size
  size_t max_prompts = 32;                  // prompts of one /v1/completions request
  size_t max_stop = 16;                     // stop strings
  int max_logprobs = 20;                    // logprobs / top_logprobs at most (vLLM's default); < 0 = the
                                            // vocabulary (what a remote GenARM caller may want)
  size_t max_concurrent = 64;               // generation requests queued or running (HTTP 429 above)
};

// The models a server serves, as the protocol needs them: names, chat templates, sizes.
// Ownership: refers to the GuidedModel (which must outlive it). Thread-safety: immutable.
struct ServedModels {
  std::string name;                       // the model id clients pass as "model"
  const GuidedModel* model = nullptr;     // base + ARMs
  std::vector<std::string> arm_names;     // index i = the model's ARM i
  std::vector<std::string> rm_names;      // trajectory reward models loaded (--rm)
  std::optional<chat::ChatTemplate> chat_template;  // the base's (or --chat-template)
  std::string no_chat_template_reason;              // why there is none, for the 400
  std::vector<std::optional<chat::ChatTemplate>> arm_templates;  // an ARM's own, if it has one
  size_t batch_size = 8;                  // the engine's slots (bounds n)
  int64_t created = 0;                    // unix time the server loaded them (/v1/models)

  int64_t context() const { return model->base().config().max_position_embeddings; }
};

enum class Endpoint { kCompletions, kChat };
enum class Method { kGenArm, kBestOfN, kArgs };  // kGenArm with no ARM = the base alone

// How best-of-N candidates are ranked.
struct RewardSpec {
  enum class Kind { kRm, kArm, kLogprob } kind = Kind::kRm;
  size_t index = 0;  // which RM (rm_names) or ARM (the model's ARM index)
  std::string label;
};

struct PromptInput {
  Prompts tokens;    // the base's, and one per ARM of the request when an ARM has its own template
  std::string text;  // the prompt as text (decoded from ids when given as ids), for echo
};

struct ParsedRequest {
  Endpoint endpoint = Endpoint::kCompletions;
  std::string model;
  std::vector<PromptInput> prompts;  // completions: one per prompt; chat: one
  Method method = Method::kGenArm;
  std::vector<size_t> arms;          // the model's ARM indices guiding the request, ascending (--arm order)
  Guidance guidance;                 // one weight per entry of `arms`, beta
  sampling::SamplerParams sampler;   // seed: the request's (choice i uses seed + i)
  GenerationConfig config;           // max_new_tokens (when > 0), stop strings, top_logprobs
  int max_tokens = 16;               // may be 0 (completions: echo the prompt only)
  int n = 1;                         // choices per prompt
  int candidates = 1;                // best-of-N: samples drawn per prompt (>= n)
  RewardSpec reward;                 // best-of-N ranking
  ArgsParams args;                   // ARGS
  size_t args_rm = 0;                // ARGS: index into rm_names
  bool stream = false;
  bool include_usage = false;        // stream_options.include_usage
  int logprobs = -1;                 // alternatives per token (>= 0) when log-probs are asked for; -1 none
  bool echo = false;                 // completions: the prompt before the text
  bool seeded = false;               // the request gave a seed
  // vLLM's extensions, for callers that work in token ids (a remote GenARM base, remote/):
  bool tokens_as_ids = false;        // return_tokens_as_token_ids: log-prob tokens read "token_id:<id>"
  bool return_token_ids = false;     // return_token_ids: choices carry prompt_token_ids and token_ids
};

// Parses and validates a request body of `endpoint` (the raw bytes: JSON parsing, nesting depth
// and UTF-8 are checked here). Throws ApiError (400, or 404 for an unknown model).
GENARM_SERVER_INLINE ParsedRequest parse_request(Endpoint endpoint, std::string_view body, const ServedModels& served,
                                                 const ServerLimits& limits, uint64_t default_seed);
// The same from parsed JSON.
GENARM_SERVER_INLINE ParsedRequest parse_request_json(Endpoint endpoint, const Json& body, const ServedModels& served,
                                                 const ServerLimits& limits, uint64_t default_seed);

// The chat prompt of `messages` (OpenAI messages, a JSON array) for the base and for each ARM of
// `arms` that has its own template, encoded as Hugging Face's apply_chat_template(tokenize=True)
// does: the rendered text is encoded with add_special_tokens=False (the template writes BOS
// itself), special tokens in the text become their ids. `extra` holds further template
// variables (chat_template_kwargs). Throws ApiError 400 when the model has no template or the
// template raises.
GENARM_SERVER_INLINE PromptInput chat_prompt(const ServedModels& served, const Json& messages,
                                             const std::vector<size_t>& arms, const Json& extra,
                                             bool add_generation_prompt = true);

// The text of token `id` as it reads after `previous` (-1: at the start): what the token adds to
// decode(..., previous, id), special tokens shown. Used for log-prob entries.
GENARM_SERVER_INLINE std::string token_text(const Tokenizer& tokenizer, int32_t previous, int32_t id);

// One token's log-prob entry, as both APIs need it.
struct TokenLogprobs {
  int32_t id = 0;
  int32_t previous = -1;            // the token before it (-1: none), the context of its text
  std::string text;                 // token_text(previous, id)
  std::optional<float> logprob;     // none: the first prompt token (echo)
  std::vector<TokenLogprob> top;    // most likely first
};

// "stop" | "length" (OpenAI's finish reasons; EOS and stop strings are "stop").
GENARM_SERVER_INLINE std::string finish_reason(StopReason reason);

// The log-prob entry of token `t` of a result (or of a result so far), without its text:
// the chosen token's log-prob and `top` alternatives (see result_logprobs).
GENARM_SERVER_INLINE TokenLogprobs token_logprobs(const GenerationResult& r, size_t t, int32_t previous, Method method,
                                                  int top);

// Log-prob entries of generated tokens from a result (details + top_logprobs): the chosen
// token's log-prob under the guided distribution (for ARGS, the softmax of the candidates'
// scores), `top` alternatives.
GENARM_SERVER_INLINE std::vector<TokenLogprobs> result_logprobs(const Tokenizer& tokenizer, const GenerationResult& r,
                                                                int32_t previous, Method method, int top);

// `logprobs` objects of each API for a run of tokens. `text_offset` is where the first token
// starts in the choice's text (completions). `tokens_as_ids`: every token (chosen and
// alternatives) reads "token_id:<id>" instead of its text, as vLLM's return_tokens_as_token_ids
// (two ids with the same text then stay apart in top_logprobs' keys).
GENARM_SERVER_INLINE Json completion_logprobs(const Tokenizer& tokenizer, const std::vector<TokenLogprobs>& tokens,
                                              size_t text_offset, bool tokens_as_ids = false);
GENARM_SERVER_INLINE Json chat_logprobs(const Tokenizer& tokenizer, const std::vector<TokenLogprobs>& tokens,
                                        bool tokens_as_ids = false);
// "token_id:<id>"
GENARM_SERVER_INLINE std::string token_id_string(int32_t id);

// {"prompt_tokens", "completion_tokens", "total_tokens"}
GENARM_SERVER_INLINE Json usage_json(uint64_t prompt_tokens, uint64_t completion_tokens);

// Response envelopes: id, object, created, model and the given choices (and usage if not null).
GENARM_SERVER_INLINE Json completion_object(const std::string& id, int64_t created, const std::string& model,
                                            Json choices, const Json& usage);
GENARM_SERVER_INLINE Json chat_object(const std::string& id, int64_t created, const std::string& model, Json choices,
                                      const Json& usage);
// Stream chunks: one choice each ("choices": [] with the usage for the usage chunk).
GENARM_SERVER_INLINE Json completion_chunk(const std::string& id, int64_t created, const std::string& model, int index,
                                           const std::string& text, const Json& logprobs, const Json& finish);
GENARM_SERVER_INLINE Json chat_chunk(const std::string& id, int64_t created, const std::string& model, int index,
                                     const Json& delta, const Json& logprobs, const Json& finish, bool usage_field);
GENARM_SERVER_INLINE Json usage_chunk(Endpoint endpoint, const std::string& id, int64_t created,
                                      const std::string& model, uint64_t prompt_tokens, uint64_t completion_tokens);

// GET /v1/models and /v1/models/{id}: the served model (with its ARMs and RMs as extensions).
GENARM_SERVER_INLINE Json model_object(const ServedModels& served);
GENARM_SERVER_INLINE Json models_list(const ServedModels& served);

// JSON text of a response or chunk (invalid UTF-8 replaced, which decoded text never has).
GENARM_SERVER_INLINE std::string dump(const Json& j);

}  // namespace genarm::server

#if !defined(GENARM_SERVER_COMPILED_LIB)
#include "genarm/server/openai_protocol-inl.hpp"
#endif
