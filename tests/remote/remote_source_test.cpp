// RemoteSource (remote/remote_source.hpp) against `genarm serve` running in-process on a loopback
// port as the engine: with K = the vocabulary, remote GenARM decoding equals local decoding token
// for token (same seed); with a small K it equals local decoding restricted to the base's top-K
// support, computed here independently; the server's prefix cache runs one token per step and
// answers as the batch engine does. A fake engine (httplib in the test) answers in vLLM's,
// llama.cpp's and SGLang's response shapes, rate-limits (429 / 503), checks the API key, lies
// about its tokenizer, sends malformed answers and goes away mid-generation (the CLI then
// reports the partial result).
#include "genarm/remote/remote_source.hpp"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <functional>
#include <memory>
#include <numeric>
#include <thread>

#include "../cli/cli_support.hpp"
#include "../server/server_support.hpp"
#include "genarm/core/math.hpp"
#include "genarm/generate/best_of_n.hpp"
#include "genarm/generate/generator.hpp"
#include "genarm/guidance/args_policy.hpp"
#include "genarm/guidance/guided_model.hpp"
#include "genarm/server/server.hpp"

namespace genarm::remote_source_tests {
namespace {

using nlohmann::json;
using remote::Dialect;
using remote::RemoteEngine;
using remote::RemoteOptions;
using remote::RemoteSource;
using testing::toy_model;

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

const GuidedModel& local_model() {
  static const GuidedModel m = GuidedModel::load(toy_model("toy-base"), {toy_model("toy-arm-positive")});
  return m;
}
const Tokenizer& tokenizer() { return local_model().tokenizer(); }

// genarm serve in-process as the engine, on a free loopback port.
struct Engine {
  explicit Engine(size_t prefix_cache = 8, int max_logprobs = -1, std::string api_key = {}) {
    server::ServerModels m;
    m.base = toy_model("toy-base");
    server::ServerOptions o;
    o.port = 0;
    o.limits.max_logprobs = max_logprobs;
    o.prefix_cache = prefix_cache;
    o.api_key = std::move(api_key);
    server = std::make_unique<server::Server>(m, o);
    server->start();
    port = server->port();
  }
  ~Engine() { server->stop(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port) + "/v1"; }
  double metric(const std::string& name) const {
    const std::string text = server->metrics();
    const size_t at = text.find("\n" + name + " ");
    return at == std::string::npos ? -1.0 : std::stod(text.substr(at + name.size() + 2));
  }
  std::unique_ptr<server::Server> server;
  int port = 0;
};

std::shared_ptr<const RemoteEngine> connect(const std::string& url, int top_k, std::string key = {}) {
  RemoteOptions o;
  o.url = url;
  o.top_k = top_k;
  o.http.api_key = std::move(key);
  o.http.retries = 2;
  o.http.backoff = 0.01;
  return RemoteEngine::connect(o, tokenizer());
}

// The local base restricted to its top-K tokens (the rest at -inf): the reference for a remote
// base asked for K log-probs. Ranks as the engine does: by log_softmax (ties: the lower id).
class TopKSource {
 public:
  TopKSource(const model::Transformer& m, size_t k, size_t vocab)
      : inner_(m), k_(k), vocab_(vocab), out_(vocab), order_(vocab) {}
  void prefill(std::span<const int32_t> t) { inner_.prefill(t); }
  void advance(int32_t t) { inner_.advance(t); }
  std::span<const float> logits() const {
    const auto l = inner_.logits().first(vocab_);
    const float lse = static_cast<float>(log_sum_exp(l));
    std::vector<float> z(vocab_);
    for (size_t v = 0; v < vocab_; ++v) z[v] = l[v] - lse;
    std::iota(order_.begin(), order_.end(), 0);
    std::partial_sort(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(k_), order_.end(), [&](int32_t a, int32_t b) {
      return z[static_cast<size_t>(a)] > z[static_cast<size_t>(b)] || (z[static_cast<size_t>(a)] == z[static_cast<size_t>(b)] && a < b);
    });
    std::fill(out_.begin(), out_.end(), kNegInf);
    for (size_t i = 0; i < k_; ++i) out_[static_cast<size_t>(order_[i])] = z[static_cast<size_t>(order_[i])];
    return out_;
  }
  size_t vocab_size() const { return vocab_; }
  void reset() { inner_.reset(); }
  TopKSource fork() const { return *this; }

 private:
  TransformerSource inner_;
  size_t k_, vocab_;
  mutable std::vector<float> out_;
  mutable std::vector<int32_t> order_;
};

GenerationConfig config(int tokens) {
  GenerationConfig c;
  c.max_new_tokens = tokens;
  c.eos_token_ids = local_model().eos_token_ids();
  return c;
}

template <typename Base>
GenerationResult decode(Base base, bool guided, uint64_t seed, int tokens = 16) {
  std::vector<TransformerSource> arms;
  if (guided) arms.emplace_back(local_model().arms()[0]);
  GuidedPolicy<Base, TransformerSource> policy(std::move(base), std::move(arms), local_model().vocab_size(),
                                               guided ? Guidance{{1.0f}, 0.5f} : Guidance{});
  sampling::SamplerParams p;
  p.temperature = 1.0f;
  p.seed = seed;
  sampling::Sampler sampler(p, local_model().vocab_size());
  const Prompts prompts{tokenizer().encode("The movie was"), {}};
  return generate(policy, sampler, tokenizer(), prompts, config(tokens));
}

TEST(RemoteBase, FullVocabularyMatchesLocalDecodingTokenForToken) {
  Engine engine;
  const auto remote = connect(engine.url(), 0);
  EXPECT_EQ(remote->dialect(), Dialect::kVllm);  // genarm serve answers with token ids
  EXPECT_EQ(remote->top_k(), local_model().vocab_size());
  for (uint64_t seed : {1u, 7u}) {
    for (bool guided : {false, true}) {
      const GenerationResult local = decode(TransformerSource(local_model().base()), guided, seed);
      const GenerationResult far = decode(RemoteSource(remote), guided, seed);
      EXPECT_EQ(far.ids, local.ids) << "seed " << seed << (guided ? " GenARM" : " base alone");
      EXPECT_EQ(far.text, local.text);
      EXPECT_GE(local.ids.size(), 4u);
    }
  }
}

TEST(RemoteBase, SmallTopKMatchesLocalDecodingOverTheTopKSupport) {
  Engine engine;
  const size_t vocab = local_model().vocab_size();
  for (int k : {3, 20}) {
    const auto remote = connect(engine.url(), k);
    for (uint64_t seed : {2u, 5u}) {
      const GenerationResult reference = decode(TopKSource(local_model().base(), static_cast<size_t>(k), vocab), true, seed);
      const GenerationResult far = decode(RemoteSource(remote), true, seed);
      EXPECT_EQ(far.ids, reference.ids) << "K " << k << " seed " << seed;
    }
  }
  // The support really is cut: with K = 1 every token is the base's greedy choice, whatever the ARM says.
  const auto one = connect(engine.url(), 1);
  RemoteSource s(one);
  const std::vector<int32_t> prompt = tokenizer().encode("The movie was");
  s.prefill(prompt);
  const auto l = s.logits();
  EXPECT_EQ(std::count_if(l.begin(), l.end(), [](float x) { return x > kNegInf; }), 1);
  TransformerSource local(local_model().base());
  local.prefill(prompt);
  const auto ll = local.logits().first(vocab);
  EXPECT_GT(l[static_cast<size_t>(std::max_element(ll.begin(), ll.end()) - ll.begin())], kNegInf);
}

TEST(RemoteBase, PrefixCacheRunsOneTokenPerStepAndForksContinue) {
  Engine engine;
  const auto remote = connect(engine.url(), 8);
  const std::vector<int32_t> prompt = tokenizer().encode("I loved this film because");
  RemoteSource s(remote);
  s.prefill(prompt);
  for (int32_t t : {10, 11, 12, 13, 14}) s.advance(t);
  EXPECT_EQ(engine.metric("genarm_next_token_requests_total"), 6);
  // The prompt once, then one token per step: nothing recomputed.
  EXPECT_EQ(engine.metric("genarm_prefix_cache_computed_tokens_total"), static_cast<double>(prompt.size() + 5));
  EXPECT_GT(engine.metric("genarm_prefix_cache_reused_tokens_total"), 0);
  // A fork (best-of-N, ARGS) continues from the same history on its own connection.
  RemoteSource f = s.fork();
  EXPECT_EQ(f.length(), s.length());
  const std::vector<float> before(s.logits().begin(), s.logits().end());
  f.advance(20);
  s.advance(20);
  EXPECT_TRUE(std::equal(f.logits().begin(), f.logits().end(), s.logits().begin()));
  EXPECT_FALSE(std::equal(before.begin(), before.end(), s.logits().begin()));
  EXPECT_EQ(s.stats().steps, 7u);
  EXPECT_EQ(f.stats().steps, 1u);
  // truncate() (rollback) asks again for the shorter history.
  s.truncate(static_cast<int64_t>(prompt.size()) + 5);
  EXPECT_TRUE(std::equal(before.begin(), before.end(), s.logits().begin()));
}

// fork() is what best-of-N and ARGS need: both run over a remote base as over the local one.
TEST(RemoteBase, BestOfNAndArgsOverARemoteBaseMatchLocal) {
  Engine engine;
  const auto remote = connect(engine.url(), 20);
  const Prompts prompts{tokenizer().encode("The movie was"), {}};
  const auto reward = [](const Prompts&, const GenerationResult& r) {
    double s = 0;
    for (int32_t id : r.ids) s += id % 7;
    return s;
  };
  const auto best = [&](auto base) {
    std::vector<TransformerSource> arms;
    arms.emplace_back(local_model().arms()[0]);
    using Base = decltype(base);
    GuidedPolicy<Base, TransformerSource> policy(std::move(base), std::move(arms), local_model().vocab_size(), Guidance{{1.0f}, 0.5f});
    sampling::SamplerParams p;
    sampling::Sampler sampler(p, local_model().vocab_size());
    return best_of_n(policy, sampler, tokenizer(), prompts, config(8), 3, 11, reward);
  };
  const auto full = connect(engine.url(), 0);
  const BestOfNResult far = best(RemoteSource(full)), local = best(TransformerSource(local_model().base()));
  ASSERT_EQ(far.candidates.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(far.candidates[i].ids, local.candidates[i].ids) << "candidate " << i;
  EXPECT_EQ(far.best_index, local.best_index);
  // ARGS takes the base's top-k (k <= K): the remote log-probs rank and score them as the logits do.
  const model::Transformer rm = model::Transformer::load(toy_model("toy-rm-positive"));
  const auto args = [&](auto base) {
    ArgsPolicy<decltype(base)> policy(std::move(base), rm, local_model().vocab_size(), ArgsParams{5, 1.5f});
    sampling::SamplerParams p;
    p.greedy = true;
    sampling::Sampler sampler(p, local_model().vocab_size());
    return generate(policy, sampler, tokenizer(), prompts, config(8));
  };
  EXPECT_EQ(args(RemoteSource(remote)).ids, args(TransformerSource(local_model().base())).ids);
}

TEST(RemoteBase, NextTokenRequestsEqualTheBatchEngine) {
  Engine cached(8), uncached(0);
  json body = {{"model", "toy-base"}, {"prompt", tokenizer().encode("The plot")}, {"max_tokens", 1}, {"temperature", 0.7},
               {"seed", 3}, {"logprobs", 50}, {"return_tokens_as_token_ids", true}};
  for (int i = 0; i < 3; ++i) {
    const auto a = testing::post(cached.port, "/v1/completions", body);
    const auto b = testing::post(uncached.port, "/v1/completions", body);
    ASSERT_EQ(a.status, 200) << a.body;
    ASSERT_EQ(b.status, 200) << b.body;
    EXPECT_EQ(a.json()["choices"], b.json()["choices"]);
    // The prompt grows by the answered token, as a remote caller's does.
    body["prompt"].push_back(std::stoi(a.json()["choices"][0]["logprobs"]["tokens"][0].get<std::string>().substr(9)));
  }
  EXPECT_EQ(cached.metric("genarm_next_token_requests_total"), 3);
  EXPECT_EQ(uncached.metric("genarm_next_token_requests_total"), 0);
}

TEST(RemoteBase, ServerGivesTokenIdsTokenizesAndCapsLogprobs) {
  Engine engine(8, 20);
  const std::vector<int32_t> prompt = tokenizer().encode("Hello there");
  auto r = testing::post(engine.port, "/v1/completions",
                         {{"model", "toy-base"}, {"prompt", prompt}, {"max_tokens", 2}, {"temperature", 0}, {"logprobs", 3},
                          {"return_tokens_as_token_ids", true}, {"return_token_ids", true}});
  ASSERT_EQ(r.status, 200) << r.body;
  const json c = r.json()["choices"][0];
  EXPECT_EQ(c["prompt_token_ids"], json(prompt));
  ASSERT_EQ(c["token_ids"].size(), 2u);
  EXPECT_EQ(c["logprobs"]["tokens"][0], "token_id:" + std::to_string(c["token_ids"][0].get<int>()));
  for (const auto& [key, lp] : c["logprobs"]["top_logprobs"][0].items()) EXPECT_EQ(key.rfind("token_id:", 0), 0u) << key;
  // The cap: 21 log-probs are refused, naming the field and the bound.
  r = testing::post(engine.port, "/v1/completions", {{"model", "toy-base"}, {"prompt", prompt}, {"max_tokens", 1}, {"logprobs", 21}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("greater than the maximum of 20"), std::string::npos) << r.body;
  // /tokenize as vLLM's.
  r = testing::post(engine.port, "/tokenize", {{"model", "toy-base"}, {"prompt", "Hello there"}, {"add_special_tokens", false}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["tokens"], json(tokenizer().encode("Hello there", false)));
  EXPECT_EQ(r.json()["count"], tokenizer().encode("Hello there", false).size());
  r = testing::post(engine.port, "/tokenize", {{"prompt", 3}});
  EXPECT_EQ(r.status, 400);
  // A remote caller asking for more than the cap gets the engine's message and what to do.
  try {
    RemoteSource s(connect(engine.url(), 100));
    s.prefill(prompt);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("HTTP 400"), std::string::npos) << m;
    EXPECT_NE(m.find("/v1/completions"), std::string::npos) << m;
    EXPECT_NE(m.find("--max-logprobs"), std::string::npos) << m;
  }
}

// An engine written in the test: GET /v1/models, POST /tokenize, and `on_completion` for the
// completion endpoints.
struct FakeEngine {
  using Handler = std::function<void(const httplib::Request&, httplib::Response&, int call)>;
  FakeEngine(std::string owner, Handler on_completion, std::vector<int32_t> tokenize_ids = {})
      : owner_(std::move(owner)), handler_(std::move(on_completion)) {
    if (tokenize_ids.empty()) tokenize_ids = tokenizer().encode(remote::kTokenizerProbe, false);
    ids_ = std::move(tokenize_ids);
    http.Get("/v1/models", [this](const httplib::Request& req, httplib::Response& res) {
      last_auth = req.get_header_value("Authorization");
      if (!key.empty() && last_auth != "Bearer " + key) {
        res.status = 401;
        res.set_content(R"({"error": {"message": "bad key", "type": "invalid_request_error"}})", "application/json");
        return;
      }
      res.set_content(json{{"object", "list"}, {"data", {{{"id", "big-model"}, {"object", "model"}, {"owned_by", owner_}}}}}.dump(),
                      "application/json");
    });
    http.Post("/tokenize", [this](const httplib::Request& req, httplib::Response& res) {
      tokenize_body = json::parse(req.body);
      json tokens = json::array();
      for (int32_t id : ids_) tokens.push_back(owner_ == "llamacpp" ? json{{"id", id}, {"piece", "x"}} : json(id));
      res.set_content(json{{"tokens", tokens}}.dump(), "application/json");
    });
    const auto completion = [this](const httplib::Request& req, httplib::Response& res) {
      last_auth = req.get_header_value("Authorization");
      last_path = req.path;
      last_body = json::parse(req.body);
      handler_(req, res, calls++);
    };
    http.Post("/v1/completions", completion);
    http.Post("/completion", completion);
    port = http.bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { http.listen_after_bind(); });
    // stop() before the listener runs would not stop it.
    while (!http.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeEngine() { stop(); }
  void stop() {
    http.stop();
    if (thread.joinable()) thread.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port) + "/v1"; }

  httplib::Server http;
  std::string owner_;
  Handler handler_;
  std::vector<int32_t> ids_;
  std::string key;
  std::atomic<int> calls{0};
  std::string last_auth, last_path;
  json last_body, tokenize_body;
  int port = 0;
  std::thread thread;
};

// A vLLM /v1/completions answer to {"max_tokens": 1, "logprobs": 3, "return_tokens_as_token_ids":
// true}, in vLLM's CompletionResponse schema (vllm/entrypoints/openai/protocol.py:
// CompletionLogProbs {text_offset, token_logprobs, tokens, top_logprobs}).
constexpr const char* kVllmAnswer = R"({"id":"cmpl-3f1a9b2c7d8e4f60a1b2c3d4e5f60718","object":"text_completion",
"created":1733131200,"model":"big-model","choices":[{"index":0,"text":" great","logprobs":{"text_offset":[0],
"token_logprobs":[-0.3125],"tokens":["token_id:1017"],"top_logprobs":[{"token_id:1017":-0.3125,
"token_id:88":-1.8125,"token_id:2301":-2.5}]},"finish_reason":"length","stop_reason":null,"prompt_logprobs":null}],
"usage":{"prompt_tokens":4,"total_tokens":5,"completion_tokens":1,"prompt_tokens_details":null}})";

// llama.cpp's /completion answer with n_probs 3, as its server README documents
// (tools/server/README.md: completion_probabilities[].top_logprobs[] with id, logprob, token, bytes).
constexpr const char* kLlamaCppAnswer = R"({"index":0,"content":" great","tokens":[],"id_slot":0,"stop":true,
"model":"big-model","tokens_predicted":1,"tokens_evaluated":4,"generation_settings":{"n_predict":1,"n_probs":3},
"prompt":"","has_new_line":false,"truncated":false,"stop_type":"limit","stopping_word":"","tokens_cached":4,
"timings":{"prompt_n":1,"prompt_ms":1.2,"predicted_n":1,"predicted_ms":0.9},
"completion_probabilities":[{"id":1017,"token":" great","bytes":[32,103,114,101,97,116],"logprob":-0.3125,
"top_logprobs":[{"id":1017,"token":" great","bytes":[32,103,114,101,97,116],"logprob":-0.3125},
{"id":88,"token":" good","bytes":[32,103,111,111,100],"logprob":-1.8125},
{"id":2301,"token":" bad","bytes":[32,98,97,100],"logprob":-2.5}]}]})";

void expect_three(const RemoteSource& s) {
  const auto l = s.logits();
  EXPECT_EQ(l[1017], -0.3125f);
  EXPECT_EQ(l[88], -1.8125f);
  EXPECT_EQ(l[2301], -2.5f);
  EXPECT_EQ(std::count_if(l.begin(), l.end(), [](float x) { return x > kNegInf; }), 3);
}

TEST(RemoteBase, ParsesVllmAnswers) {
  FakeEngine fake("vllm", [](const httplib::Request&, httplib::Response& res, int) {
    res.set_content(kVllmAnswer, "application/json");
  });
  const auto e = connect(fake.url(), 3);
  EXPECT_EQ(e->model(), "big-model");
  EXPECT_EQ(e->dialect(), Dialect::kVllm);
  RemoteSource s(e);
  s.prefill(std::vector<int32_t>{5, 6, 7});
  expect_three(s);
  EXPECT_EQ(fake.last_path, "/v1/completions");
  EXPECT_EQ(fake.last_body["prompt"], json({5, 6, 7}));
  EXPECT_EQ(fake.last_body["max_tokens"], 1);
  EXPECT_EQ(fake.last_body["temperature"], 0);
  EXPECT_EQ(fake.last_body["logprobs"], 3);
  EXPECT_EQ(fake.last_body["echo"], false);
  EXPECT_EQ(fake.last_body["return_tokens_as_token_ids"], true);
  EXPECT_EQ(fake.last_body["model"], "big-model");
  EXPECT_EQ(fake.tokenize_body["prompt"], remote::kTokenizerProbe);
  s.advance(1017);
  EXPECT_EQ(fake.last_body["prompt"], json({5, 6, 7, 1017}));
}

TEST(RemoteBase, ParsesLlamaCppAnswers) {
  FakeEngine fake("llamacpp", [](const httplib::Request&, httplib::Response& res, int) {
    res.set_content(kLlamaCppAnswer, "application/json");
  });
  const auto e = connect(fake.url(), 3);
  EXPECT_EQ(e->dialect(), Dialect::kLlamaCpp);
  RemoteSource s(e);
  s.prefill(std::vector<int32_t>{5, 6, 7});
  expect_three(s);
  EXPECT_EQ(fake.last_path, "/completion");
  EXPECT_EQ(fake.last_body["n_probs"], 3);
  EXPECT_EQ(fake.last_body["n_predict"], 1);
  EXPECT_EQ(fake.last_body["cache_prompt"], true);
  EXPECT_EQ(fake.tokenize_body["content"], remote::kTokenizerProbe);
  // The post-sampling shape (top_probs with probabilities) too.
  json alt = json::parse(kLlamaCppAnswer);
  alt["completion_probabilities"][0].erase("top_logprobs");
  alt["completion_probabilities"][0]["top_probs"] = {{{"id", 9}, {"token", "a"}, {"prob", 0.75}}, {{"id", 10}, {"token", "b"}, {"prob", 0.25}}};
  remote::ParsedLogprobs parsed;
  remote::parse_next_token_logprobs(alt, 4096, remote::TokenTextIndex(), "test", parsed);
  ASSERT_EQ(parsed.top.size(), 2u);
  EXPECT_FLOAT_EQ(parsed.top[0].logprob, std::log(0.75f));
}

TEST(RemoteBase, MapsTokenTextsOfSglangAnswersWithTheLocalTokenizer) {
  // Two ids whose texts no other id shares.
  const remote::TokenTextIndex index(tokenizer());
  std::vector<int32_t> unique;
  std::vector<std::string> text;
  for (int32_t id = 300; unique.size() < 2; ++id) {
    const int32_t one[1] = {id};
    std::string t = tokenizer().decode(one);
    if (index.find(t) == id) {
      unique.push_back(id);
      text.push_back(std::move(t));
    }
  }
  const int32_t a = unique[0], b = unique[1];
  const std::string ta = text[0], tb = text[1];
  FakeEngine fake("sglang", [&](const httplib::Request&, httplib::Response& res, int) {
    json top = json::object();
    top[ta] = -0.25;
    top[tb] = -1.5;
    top["no such token text \xE2\x9D\xA4\xE2\x9D\xA4"] = -3.0;
    res.set_content(json{{"choices", {{{"index", 0}, {"text", ta}, {"logprobs", {{"tokens", {ta}}, {"top_logprobs", {top}}}}}}}}.dump(),
                    "application/json");
  });
  const auto e = connect(fake.url(), 3);
  EXPECT_EQ(e->dialect(), Dialect::kOpenAI);
  EXPECT_FALSE(fake.last_body.contains("return_tokens_as_token_ids"));
  RemoteSource s(e);
  s.prefill(std::vector<int32_t>{5});
  EXPECT_FALSE(fake.last_body.contains("return_tokens_as_token_ids"));
  EXPECT_EQ(s.logits()[static_cast<size_t>(a)], -0.25f);
  EXPECT_EQ(s.logits()[static_cast<size_t>(b)], -1.5f);
  EXPECT_EQ(std::count_if(s.logits().begin(), s.logits().end(), [](float x) { return x > kNegInf; }), 2);
  EXPECT_EQ(s.stats().unmapped, 1u);
}

TEST(RemoteBase, RetriesRateLimitsAndServerErrorsWithBackoff) {
  FakeEngine fake("vllm", [](const httplib::Request&, httplib::Response& res, int call) {
    if (call < 2) {
      res.status = call == 0 ? 429 : 503;
      res.set_header("Retry-After", "0");
      res.set_content(R"({"error": {"message": "busy"}})", "application/json");
      return;
    }
    res.set_content(kVllmAnswer, "application/json");
  });
  RemoteSource s(connect(fake.url(), 3));
  s.prefill(std::vector<int32_t>{5});
  expect_three(s);
  EXPECT_EQ(s.stats().http.retries, 2u);
  EXPECT_EQ(fake.calls.load(), 3);
}

TEST(RemoteBase, SendsTheApiKey) {
  FakeEngine fake("vllm", [](const httplib::Request& req, httplib::Response& res, int) {
    if (req.get_header_value("Authorization") != "Bearer sekrit") {
      res.status = 401;
      res.set_content(R"({"error": {"message": "Incorrect API key provided."}})", "application/json");
      return;
    }
    res.set_content(kVllmAnswer, "application/json");
  });
  fake.key = "sekrit";
  RemoteSource s(connect(fake.url(), 3, "sekrit"));
  s.prefill(std::vector<int32_t>{5});
  EXPECT_EQ(fake.last_auth, "Bearer sekrit");
  try {
    connect(fake.url(), 3, "wrong");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("HTTP 401: bad key"), std::string::npos) << e.what();
  }
}

TEST(RemoteBase, RefusesAnEngineWithAnotherTokenizer) {
  std::vector<int32_t> ids = tokenizer().encode(remote::kTokenizerProbe, false);
  ids[3] += 1;
  FakeEngine fake("vllm", [](const httplib::Request&, httplib::Response& res, int) { res.set_content(kVllmAnswer, "application/json"); }, ids);
  try {
    connect(fake.url(), 3);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::kTokenizer);
    const std::string m = e.what();
    EXPECT_NE(m.find("at position 3 the engine has id " + std::to_string(ids[3])), std::string::npos) << m;
    EXPECT_NE(m.find(fake.url()), std::string::npos) << m;
  }
}

TEST(RemoteBase, MalformedAnswersAreErrorsNamingTheField) {
  struct Case {
    std::string body, expected;
  };
  const std::vector<Case> cases = {
      {"not json", "is not JSON"},
      {R"({"choices": []})", "no choices"},
      {R"({"choices": [{"logprobs": null}]})", "choices[0].logprobs null"},
      {R"({"choices": [{"logprobs": {"top_logprobs": [{"token_id:99999": -1.0}]}}]})", "outside the local vocabulary of 4096"},
      {R"({"choices": [{"logprobs": {"top_logprobs": [{"token_id:5": "high"}]}}]})", "expected a number"},
      {R"({"choices": [{"logprobs": {"top_logprobs": [{"token_id:5": 2.5}]}}]})", "expected a log-probability <= 0"},
      {R"({"completion_probabilities": [{"top_logprobs": [{"id": -3, "logprob": -1}]}]})", "= -3, outside the local vocabulary"},
      {R"({"completion_probabilities": [{"top_logprobs": [{"logprob": -1}]}]})", "without \"id\" or \"token\""},
      {R"({"completion_probabilities": [{}]})", "without top_logprobs"},
  };
  std::atomic<size_t> which{0};
  FakeEngine fake("vllm", [&](const httplib::Request&, httplib::Response& res, int) {
    res.set_content(cases[which].body, "application/json");
  });
  const auto e = connect(fake.url(), 3);
  for (size_t i = 0; i < cases.size(); ++i) {
    which = i;
    RemoteSource s(e);
    try {
      s.prefill(std::vector<int32_t>{5});
      ADD_FAILURE() << "no error for " << cases[i].body;
    } catch (const Error& err) {
      const std::string m = err.what();
      EXPECT_NE(m.find(cases[i].expected), std::string::npos) << cases[i].body << " -> " << m;
      EXPECT_NE(m.find("127.0.0.1:" + std::to_string(fake.port)), std::string::npos) << m;
    }
  }
}

TEST(RemoteBase, AnEngineThatIsDownIsNamed) {
  int port;
  {
    FakeEngine gone("vllm", [](const httplib::Request&, httplib::Response&, int) {});
    port = gone.port;
  }
  RemoteOptions o;
  o.url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
  o.http.retries = 1;
  o.http.backoff = 0.01;
  try {
    RemoteEngine::connect(o, tokenizer());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::kIo);
    const std::string m = e.what();
    EXPECT_NE(m.find("GET http://127.0.0.1:" + std::to_string(port) + "/v1/models"), std::string::npos) << m;
    EXPECT_NE(m.find("2 attempts"), std::string::npos) << m;
    EXPECT_NE(m.find("is the engine running"), std::string::npos) << m;
  }
  o.url = "ftp://x";
  EXPECT_THROW(RemoteEngine::connect(o, tokenizer()), Error);
}

TEST(RemoteBaseCli, GenerateWithARemoteBaseMatchesTheLocalBase) {
  Engine engine;
  const std::vector<std::string> common = {"--arm", "toy-arm-positive", "--beta", "0.5", "--prompt", "The movie was",
                                           "--max-new-tokens", "12", "--seed", "4", "--json"};
  std::vector<std::string> remote_args = {"generate", "--base", engine.url(), "--base-top-k", "0"};
  remote_args.insert(remote_args.end(), common.begin(), common.end());
  std::vector<std::string> local_args = {"generate", "--base", "toy-base"};
  local_args.insert(local_args.end(), common.begin(), common.end());
  const auto far = testing::run_cli(remote_args);
  const auto local = testing::run_cli(local_args);
  ASSERT_EQ(far.exit_code, 0) << far.err;
  ASSERT_EQ(local.exit_code, 0) << local.err;
  EXPECT_EQ(json::parse(far.out)["ids"], json::parse(local.out)["ids"]);
  EXPECT_EQ(json::parse(far.out)["text"], json::parse(local.out)["text"]);
  // --input: one prompt at a time, prompt i with seed + i, as the batched local path.
  testing::TempDir dir("remote_cli");
  testing::write_file(dir / "in.jsonl", "{\"id\": \"a\", \"prompt\": \"The movie was\"}\n{\"id\": \"b\", \"prompt\": \"I think\"}\n");
  const std::vector<std::string> batch = {"--input", (dir / "in.jsonl").string(), "--arm", "toy-arm-positive", "--max-new-tokens", "10", "--seed", "9"};
  std::vector<std::string> remote_batch = {"generate", "--base", engine.url(), "--base-top-k", "0", "--output", (dir / "far.jsonl").string()};
  remote_batch.insert(remote_batch.end(), batch.begin(), batch.end());
  std::vector<std::string> local_batch = {"generate", "--output", (dir / "near.jsonl").string()};
  local_batch.insert(local_batch.end(), batch.begin(), batch.end());
  const auto fb = testing::run_cli(remote_batch), lb = testing::run_cli(local_batch);
  ASSERT_EQ(fb.exit_code, 0) << fb.err;
  ASSERT_EQ(lb.exit_code, 0) << lb.err;
  const auto lines = [](const std::string& text) {
    std::vector<json> out;
    size_t pos = 0;
    for (size_t end; (end = text.find('\n', pos)) != std::string::npos; pos = end + 1) out.push_back(json::parse(text.substr(pos, end - pos)));
    return out;
  };
  const auto far_lines = lines(testing::read_file(dir / "far.jsonl")), near_lines = lines(testing::read_file(dir / "near.jsonl"));
  ASSERT_EQ(far_lines.size(), 2u);
  ASSERT_EQ(near_lines.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(far_lines[i]["id"], near_lines[i]["id"]);
    EXPECT_EQ(far_lines[i]["ids"], near_lines[i]["ids"]) << i;
  }
  // Flags of a remote base need one.
  const auto wrong = testing::run_cli({"generate", "--base", "toy-base", "--base-top-k", "5", "--prompt", "x"});
  EXPECT_EQ(wrong.exit_code, 2);
  EXPECT_NE(wrong.err.find("--base-top-k goes with a remote base"), std::string::npos) << wrong.err;
}

TEST(RemoteBaseCli, AnEngineGoingAwayMidGenerationReportsThePartialResult) {
  FakeEngine fake("vllm", [](const httplib::Request&, httplib::Response& res, int call) {
    if (call >= 3) {
      res.status = 503;
      res.set_header("Retry-After", "0");
      res.set_content(R"({"error": {"message": "engine shutting down"}})", "application/json");
      return;
    }
    res.set_content(kVllmAnswer, "application/json");
  });
  const auto r = testing::run_cli({"generate", "--base", fake.url(), "--method", "base", "--base-tokenizer", "toy-base",
                                   "--base-top-k", "3", "--base-retries", "1", "--prompt", "Hello", "--max-new-tokens", "8",
                                   "--greedy", "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("HTTP 503: engine shutting down"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(fake.url()), std::string::npos) << r.err;
  const size_t at = r.err.find("partial result: ");
  ASSERT_NE(at, std::string::npos) << r.err;
  const json partial = json::parse(r.err.substr(at + 16, r.err.find('\n', at) - at - 16));
  EXPECT_EQ(partial["partial"], true);
  EXPECT_EQ(partial["ids"], json({1017, 1017, 1017}));  // three answered steps, greedy: the top token each time
  EXPECT_NE(r.err.find("after 3 new token(s)"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace genarm::remote_source_tests
