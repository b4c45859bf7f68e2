// RemoteSource: a LogitSource whose model runs in a serving engine elsewhere — vLLM, SGLang,
// llama.cpp's server or `genarm serve` — reached over its OpenAI-compatible HTTP API, so that a
// base too big for this machine (a 70B on a GPU cluster) can be guided by ARMs running here
// (GuidedPolicy<RemoteSource, TransformerSource>: weak-to-strong GenARM).
//
// Every step is one request for one token: the history as token ids, max_tokens 1,
// temperature 0, logprobs K, echo false (llama.cpp: its native /completion with n_probs K and
// cache_prompt), relying on the engine's prefix cache to make the growing prompt cheap. The
// engine's answer gives the K most likely next tokens with their log-probs under the base; the
// next-token "logits" of this source are those log-probs, and every other token of the
// vocabulary gets RemoteOptions::floor.
//
// Fidelity (say so where the user picks K): with the default floor (-inf) the GenARM
// combination z = logp_base + sum_i (w_i/beta) logp_arm_i runs over the base's top-K support —
// tokens outside it cannot be chosen, however much an ARM likes them, exactly as ARGS
// pre-screens candidates with the base's top-k — and the base's log-probs are renormalised over
// those K tokens. K = the vocabulary (top_k = 0) gives the local result (up to float rounding of
// the engine's log-softmax). A finite floor lets ARMs promote tokens outside the top K, all of
// which the base then rates alike. Measured KL and greedy agreement per K: README, "A remote base".
//
// Engines: the dialect is read from GET {url}/models ("owned_by": vllm, sglang, llamacpp, genarm)
// unless set. vLLM and genarm serve are asked for token ids (return_tokens_as_token_ids, keys
// "token_id:<id>"); SGLang and unknown engines answer with token texts, mapped back with the local
// tokenizer (TokenTextIndex: texts several ids share are dropped to the floor); llama.cpp answers
// with ids. vLLM caps logprobs at its --max-logprobs (default 20); genarm serve at its
// --max-logprobs (default 20, "all" for the vocabulary).
// The engine's tokenizer must be the local one: connect() encodes a probe text through the
// engine's /tokenize (vLLM, llama.cpp, genarm serve) and compares the ids, Error(kTokenizer)
// naming the first difference otherwise; engines without /tokenize need check_tokenizer = false.
// Errors: the engine unreachable or answering 429/5xx is retried with backoff (HttpOptions);
// then, and for any other failure, an Error(kIo / kFormat) naming the URL, the status and the
// engine's message — thrown from prefill()/advance() (which fetch the next distribution at once,
// so that a policy running its sources side by side overlaps the request with the local ARMs'
// forward passes) or logits(). The history is kept, so a caller can report the partial result.
// Ownership: shares the immutable RemoteEngine (address, model, dialect, K, token index) with its
// forks; owns its history, logits buffer (V floats, sized once) and HTTP connection.
// Thread-safety: not thread-safe (one source per sequence); a fork() or copy opens its own
// connection and may run on another thread.
#pragma once

#include <charconv>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "genarm/core/error.hpp"
#include "genarm/guidance/logit_source.hpp"
#include "genarm/remote/engine_response.hpp"
#include "genarm/remote/http_client.hpp"
#include "genarm/tokenizer/compare.hpp"
#include "genarm/tokenizer/tokenizer.hpp"

namespace genarm::remote {

enum class Dialect {
  kAuto,      // from GET {url}/models' owned_by
  kOpenAI,    // any OpenAI-compatible /v1/completions: token texts (SGLang, unknown engines)
  kVllm,      // + return_tokens_as_token_ids (vLLM, genarm serve)
  kLlamaCpp,  // llama.cpp's native /completion with n_probs
};

inline const char* to_string(Dialect d) {
  switch (d) {
    case Dialect::kAuto: return "auto";
    case Dialect::kOpenAI: return "openai";
    case Dialect::kVllm: return "vllm";
    case Dialect::kLlamaCpp: return "llama.cpp";
  }
  return "?";
}

struct RemoteOptions {
  std::string url;              // the API root, e.g. "http://10.0.0.5:8000/v1"
  std::string model;            // the engine's model id; empty: the first of GET {url}/models
  int top_k = 20;               // K log-probs per step; 0 = the whole local vocabulary
  float floor = -std::numeric_limits<float>::infinity();  // log-prob of tokens outside the top K
  Dialect dialect = Dialect::kAuto;
  bool check_tokenizer = true;  // compare the engine's /tokenize with the local tokenizer once
  HttpOptions http;             // timeouts, retries, API key
};

// The probe text of the tokenizer check: words, digits, punctuation, spacing and non-ASCII text.
inline constexpr const char* kTokenizerProbe =
    "GenARM probe: Hello, world! The year 2025 had 365 days; x = (a+b)*c.\n\n  Indented\ttab "
    "caf\xC3\xA9 na\xC3\xAFve \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xE2\x9D\xA4 \xF0\x9F\x99\x82 end.";

// Cumulative cost of a source's requests (see HttpStats), with the time spent parsing answers.
struct RemoteStats {
  HttpStats http;
  uint64_t steps = 0;          // next-token distributions fetched
  uint64_t unmapped = 0;       // token texts that mapped to no single local id (token-text dialects)
  double parse_seconds = 0.0;  // JSON parsing and checking of the answers
};

// One engine as the sources see it, resolved once by connect(). Immutable: thread-safe.
class RemoteEngine {
 public:
  // Resolves the model and dialect (GET {url}/models), checks the tokenizer (unless told not
  // to) and K. `tokenizer` is the local one (the ARMs'): its vocabulary is the decoding one.
  static std::shared_ptr<const RemoteEngine> connect(RemoteOptions options, const Tokenizer& tokenizer) {
    auto e = std::shared_ptr<RemoteEngine>(new RemoteEngine());
    e->options_ = options;
    e->url_ = parse_url(options.url);
    e->vocab_ = tokenizer.vocab_size();
    if (options.top_k < 0) fail(ErrorCategory::kInvalidArgument, "top-K must be >= 0 (0 = the vocabulary), got ", options.top_k);
    e->top_k_ = options.top_k == 0 ? e->vocab_ : std::min<size_t>(static_cast<size_t>(options.top_k), e->vocab_);
    HttpClient http(e->url_, options.http);
    e->resolve_model(http);
    if (e->dialect_ == Dialect::kOpenAI) e->texts_ = std::make_shared<TokenTextIndex>(tokenizer);
    if (options.check_tokenizer) e->check_tokenizer(http, tokenizer);
    e->build_request_parts();
    return e;
  }

  const Url& url() const { return url_; }
  const std::string& model() const { return model_; }
  Dialect dialect() const { return dialect_; }
  size_t top_k() const { return top_k_; }
  size_t vocab_size() const { return vocab_; }
  float floor() const { return options_.floor; }
  int64_t context() const { return context_; }  // the engine's context if it says (else INT64_MAX)
  const HttpOptions& http_options() const { return options_.http; }
  const std::string& completion_path() const { return completion_path_; }
  const std::string& where() const { return where_; }
  const TokenTextIndex& texts() const { return texts_ ? *texts_ : empty_texts_; }

  // The request body for `history` into `body` (cleared first; its capacity is reused).
  void write_request(std::span<const int32_t> history, std::string& body) const {
    body.clear();
    body += request_head_;
    char buf[16];
    for (size_t i = 0; i < history.size(); ++i) {
      if (i) body += ',';
      const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, history[i]);
      body.append(buf, end);
    }
    body += request_tail_;
  }

 private:
  RemoteEngine() = default;

  void resolve_model(HttpClient& http) {
    const std::string path = url_.path + "/models";
    nlohmann::json models;
    try {
      models = http.json(path, nullptr);
    } catch (const Error& e) {
      if (options_.model.empty() || options_.dialect == Dialect::kAuto) {
        throw Error(e.category(), std::string("cannot list the engine's models (needed for ") +
                                      (options_.model.empty() ? "the model name" : "the engine's kind") + "): " + e.what());
      }
    }
    const nlohmann::json* data = models.is_object() && models.contains("data") && models["data"].is_array() ? &models["data"] : nullptr;
    std::string owner;
    std::string names;
    const nlohmann::json* chosen = nullptr;
    if (data != nullptr) {
      for (const auto& m : *data) {
        if (!m.is_object() || !m.contains("id") || !m["id"].is_string()) continue;
        const std::string id = m["id"].get<std::string>();
        names += (names.empty() ? "" : ", ") + id;
        if (chosen == nullptr && (options_.model.empty() || id == options_.model)) chosen = &m;
      }
    }
    // Without a listing (GET failed) a given model and dialect are taken as they are.
    const bool unlisted = models.is_null() && !options_.model.empty() && options_.dialect != Dialect::kAuto;
    if (chosen == nullptr && !unlisted) {
      fail(ErrorCategory::kInvalidArgument, "GET ", url_.origin(), path, ": ",
           options_.model.empty() ? std::string("no model listed") : "no model '" + options_.model + "'",
           " (the engine serves: ", names.empty() ? std::string("none") : names, ")");
    }
    model_ = chosen != nullptr ? (*chosen)["id"].get<std::string>() : options_.model;
    if (chosen != nullptr && chosen->contains("owned_by") && (*chosen)["owned_by"].is_string()) {
      owner = (*chosen)["owned_by"].get<std::string>();
    }
    for (const char* key : {"max_model_len", "context_length"}) {
      if (chosen != nullptr && chosen->contains(key) && (*chosen)[key].is_number_integer() && (*chosen)[key].get<int64_t>() > 0) {
        context_ = (*chosen)[key].get<int64_t>();
      }
    }
    dialect_ = options_.dialect;
    if (dialect_ == Dialect::kAuto) {
      dialect_ = owner == "vllm" || owner == "genarm" ? Dialect::kVllm
                 : owner == "llamacpp"               ? Dialect::kLlamaCpp
                                                     : Dialect::kOpenAI;
    }
    completion_path_ = dialect_ == Dialect::kLlamaCpp ? url_.root() + "/completion" : url_.path + "/completions";
    where_ = "POST " + url_.origin() + completion_path_;
  }

  void check_tokenizer(HttpClient& http, const Tokenizer& tokenizer) {
    nlohmann::json body = nlohmann::json::object();
    if (dialect_ == Dialect::kLlamaCpp) {
      body["content"] = kTokenizerProbe;
      body["add_special"] = false;
    } else {
      body["model"] = model_;
      body["prompt"] = kTokenizerProbe;
      body["add_special_tokens"] = false;
    }
    const std::string text = body.dump();
    std::string path = url_.root() + "/tokenize";
    HttpResponse r = http.exchange(path, &text);
    if (r.status == 404 && !url_.path.empty()) {  // SGLang and others may serve it under the API root
      path = url_.path + "/tokenize";
      r = http.exchange(path, &text);
    }
    const std::string where = "POST " + url_.origin() + path;
    if (r.status == 404) {
      fail(ErrorCategory::kUnsupported, where, ": HTTP 404: the engine has no /tokenize, so its tokenizer cannot be "
           "checked against the local one; if you are sure they are the same, turn the check off "
           "(--base-no-tokenizer-check)");
    }
    if (r.status < 200 || r.status >= 300) fail(ErrorCategory::kIo, where, ": HTTP ", r.status, ": ", engine_message(r.body));
    const nlohmann::json j = http.parse(path, r.body);
    if (!j.is_object() || !j.contains("tokens") || !j["tokens"].is_array()) {
      fail(ErrorCategory::kFormat, where, ": expected {\"tokens\": [ids]}, got ", j.dump().substr(0, 200));
    }
    std::vector<int64_t> remote;
    for (const auto& t : j["tokens"]) {
      const nlohmann::json& id = t.is_object() && t.contains("id") ? t["id"] : t;  // llama.cpp with_pieces
      if (!id.is_number_integer()) fail(ErrorCategory::kFormat, where, ": tokens holds ", id.dump(), ", expected token ids");
      remote.push_back(id.get<int64_t>());
    }
    const std::vector<int32_t> local = tokenizer.encode(kTokenizerProbe, /*add_special_tokens=*/false);
    const size_t n = std::min(local.size(), remote.size());
    size_t i = 0;
    while (i < n && local[i] == remote[i]) ++i;
    if (i == n && local.size() == remote.size()) return;
    std::string detail;
    if (i < n) {
      detail = "at position " + std::to_string(i) + " the engine has id " + std::to_string(remote[i]) + ", the local tokenizer " +
               std::to_string(local[i]) + " " + tokenizer::quote_token(tokenizer.id_to_token(local[i]));
    } else {
      detail = "the engine gives " + std::to_string(remote.size()) + " tokens, the local tokenizer " + std::to_string(local.size());
    }
    fail(ErrorCategory::kTokenizer, "the engine's tokenizer (", model_, " at ", url_.text(),
         ") is not the local one: encoding a probe text, ", detail,
         ". GenARM combines token log-probabilities, so the base and the ARMs must share one tokenizer");
  }

  void build_request_parts() {
    const std::string model = nlohmann::json(model_).dump();
    const std::string k = std::to_string(top_k_);
    if (dialect_ == Dialect::kLlamaCpp) {
      request_head_ = "{\"prompt\":[";
      request_tail_ = "],\"n_predict\":1,\"temperature\":0,\"n_probs\":" + k +
                      ",\"post_sampling_probs\":false,\"cache_prompt\":true,\"stream\":false}";
      return;
    }
    request_head_ = "{\"model\":" + model + ",\"prompt\":[";
    request_tail_ = "],\"max_tokens\":1,\"temperature\":0,\"logprobs\":" + k + ",\"echo\":false";
    if (dialect_ == Dialect::kVllm) request_tail_ += ",\"return_tokens_as_token_ids\":true";
    request_tail_ += "}";
  }

  RemoteOptions options_;
  Url url_;
  std::string model_;
  Dialect dialect_ = Dialect::kOpenAI;
  size_t vocab_ = 0;
  size_t top_k_ = 0;
  int64_t context_ = std::numeric_limits<int64_t>::max();
  std::string completion_path_, where_;
  std::string request_head_, request_tail_;
  std::shared_ptr<const TokenTextIndex> texts_;
  TokenTextIndex empty_texts_;
};

class RemoteSource {
 public:
  explicit RemoteSource(std::shared_ptr<const RemoteEngine> engine)
      : engine_(std::move(engine)), http_(engine_->url(), engine_->http_options()),
        logits_(engine_->vocab_size(), engine_->floor()) {
    parsed_.top.reserve(engine_->top_k() + 1);
  }
  // A copy continues from the same history with its own connection and counters.
  RemoteSource(const RemoteSource& o)
      : engine_(o.engine_), http_(o.http_), tokens_(o.tokens_), logits_(o.logits_), stale_(o.stale_) {
    parsed_.top.reserve(engine_->top_k() + 1);
  }
  RemoteSource& operator=(const RemoteSource& o) {
    if (this != &o) {
      engine_ = o.engine_;
      http_ = o.http_;
      tokens_ = o.tokens_;
      logits_ = o.logits_;
      stale_ = o.stale_;
      stats_ = {};
    }
    return *this;
  }
  RemoteSource(RemoteSource&&) noexcept = default;
  RemoteSource& operator=(RemoteSource&&) noexcept = default;

  void prefill(std::span<const int32_t> tokens) {
    tokens_.insert(tokens_.end(), tokens.begin(), tokens.end());
    fetch();
  }
  void advance(int32_t token) {
    tokens_.push_back(token);
    fetch();
  }
  std::span<const float> logits() const {
    if (stale_) fetch();
    return logits_;
  }
  size_t vocab_size() const { return logits_.size(); }
  void reset() {
    tokens_.clear();
    stale_ = true;
  }
  RemoteSource fork() const { return *this; }

  void reserve(int64_t tokens) {
    tokens_.reserve(static_cast<size_t>(std::max<int64_t>(tokens, 0)));
    request_.reserve(32 + 12 * static_cast<size_t>(std::max<int64_t>(tokens, 0)));
  }
  void truncate(int64_t tokens) {
    if (tokens < 0 || tokens > length()) {
      fail(ErrorCategory::kInvalidArgument, "cannot truncate a history of ", length(), " tokens to ", tokens);
    }
    tokens_.resize(static_cast<size_t>(tokens));
    stale_ = true;
  }
  int64_t length() const { return static_cast<int64_t>(tokens_.size()); }
  int64_t max_length() const { return engine_->context(); }

  std::span<const int32_t> history() const { return tokens_; }
  const RemoteEngine& engine() const { return *engine_; }
  RemoteStats stats() const {
    RemoteStats s = stats_;
    s.http = http_.stats();
    return s;
  }

 private:
  // Asks the engine for the next-token distribution after the history.
  void fetch() const {
    if (tokens_.empty()) fail(ErrorCategory::kInvalidArgument, "a remote source has no history: prefill a prompt first");
    engine_->write_request(tokens_, request_);
    HttpResponse r = http_.exchange(engine_->completion_path(), &request_);
    const auto t0 = std::chrono::steady_clock::now();
    if (r.status < 200 || r.status >= 300) {
      std::string hint;
      if (r.status == 400 && r.body.find("logprobs") != std::string::npos) {
        hint = " (K = " + std::to_string(engine_->top_k()) +
               " log-probs were asked for: raise the engine's cap — vLLM --max-logprobs, genarm serve --max-logprobs all — "
               "or ask for fewer)";
      }
      fail(ErrorCategory::kIo, engine_->where(), ": HTTP ", r.status, ": ", engine_message(r.body), hint, " (after ",
           tokens_.size(), " tokens of history)");
    }
    const nlohmann::json j = http_.parse(engine_->completion_path(), r.body);
    parse_next_token_logprobs(j, logits_.size(), engine_->texts(), engine_->where(), parsed_);
    std::fill(logits_.begin(), logits_.end(), engine_->floor());
    for (const auto& t : parsed_.top) logits_[static_cast<size_t>(t.id)] = t.logprob;
    ++stats_.steps;
    stats_.unmapped += parsed_.unmapped;
    stats_.parse_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    stale_ = false;
  }

  std::shared_ptr<const RemoteEngine> engine_;
  mutable HttpClient http_;
  std::vector<int32_t> tokens_;         // the history sent to the engine
  mutable std::vector<float> logits_;   // (V) the engine's top-K log-probs, the floor elsewhere
  mutable std::string request_;         // the request body, reused
  mutable ParsedLogprobs parsed_;       // the last answer's top-K, reused
  mutable RemoteStats stats_;
  mutable bool stale_ = true;           // logits_ do not describe the history
};

static_assert(LogitSource<RemoteSource>);

}  // namespace genarm::remote
