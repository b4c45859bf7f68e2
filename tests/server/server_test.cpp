// genarm::server::Server over HTTP on a loopback port: every endpoint, streaming and not, guided
// and not, n > 1, log-probs, echo, stop, best-of-N and ARGS; results equal `genarm generate`
// with the same seed while other requests share the batch; every error class with its status and
// OpenAI error body; the API key; the limits (413, 400, 429); a client that disconnects (its
// slot freed), trickles its request (timed out) or holds connections; drain on SIGTERM of the
// real binary.
#include "genarm/server/server.hpp"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "../cli/cli_support.hpp"
#include "genarm/generate/generator.hpp"
#include "server_support.hpp"

namespace genarm::server {
namespace {

using nlohmann::json;
using testing::eventually;
using testing::HttpConnection;
using testing::http;
using testing::parse_events;
using testing::post;
using testing::request_text;
using testing::stream_texts;
using testing::TempDir;
using testing::toy_model;

constexpr const char* kChatTemplate =
    "{{ bos_token }}{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}";

const std::filesystem::path& template_file() {
  static TempDir dir("server_template");
  static const std::filesystem::path path = [] {
    const auto p = dir / "chat.jinja";
    testing::write_file(p, kChatTemplate);
    return p;
  }();
  return path;
}

ServerModels toy_models(bool chat = true) {
  ServerModels m;
  m.base = toy_model("toy-base");
  m.arms = {{"positive", toy_model("toy-arm-positive")}, {"concise", toy_model("toy-arm-concise")}};
  m.rms = {{"rm", toy_model("toy-rm-positive")}, {"rm2", toy_model("toy-rm-positive")}};
  if (chat) m.chat_template = template_file();
  return m;
}

// A server on a free loopback port for the length of a test.
struct Running {
  explicit Running(ServerOptions o = {}, ServerModels m = toy_models()) {
    o.port = 0;
    server = std::make_unique<Server>(m, o);
    server->start();
    port = server->port();
  }
  ~Running() { server->stop(); }
  std::unique_ptr<Server> server;
  int port = 0;
};

json completion(int port, json body) {
  body["model"] = "toy-base";
  const auto r = post(port, "/v1/completions", body);
  EXPECT_EQ(r.status, 200) << r.body;
  return r.status == 200 ? r.json() : json();
}

json cli_json(std::vector<std::string> args) {
  args.insert(args.begin(), "generate");
  args.push_back("--json");
  args.push_back("--details");
  const auto r = testing::run_cli(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return json::parse(r.out);
}

// A server choice equals a CLI result: the text, the number of tokens, why it stopped and every
// token's log-prob under the guided distribution (bit for bit as floats).
::testing::AssertionResult same_generation(const json& choice, const json& cli) {
  if (choice["text"] != cli["text"]) {
    return ::testing::AssertionFailure() << "text " << choice["text"] << " vs CLI " << cli["text"];
  }
  const json& lps = choice["logprobs"]["token_logprobs"];
  if (lps.size() != cli["ids"].size()) {
    return ::testing::AssertionFailure() << lps.size() << " tokens vs CLI " << cli["ids"].size();
  }
  for (size_t t = 0; t < lps.size(); ++t) {
    const float a = lps[t].get<float>(), b = cli["details"][t]["logprob_guided"].get<float>();
    if (a != b) return ::testing::AssertionFailure() << "token " << t << " log-prob " << a << " vs CLI " << b;
  }
  const std::string stop = cli["stop_reason"];
  const std::string want = stop == "eos" || stop == "stop_string" ? "stop" : "length";
  if (choice["finish_reason"] != want) return ::testing::AssertionFailure() << choice["finish_reason"] << " vs " << want;
  return ::testing::AssertionSuccess();
}

// Streams slow requests in the background while a test runs (other traffic in the batch).
struct Background {
  Background(int port, int threads) {
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([this, port, t] {
        int i = 0;
        while (!stop) {
          json body = {{"model", "toy-base"}, {"prompt", "Once upon a time " + std::to_string(t)}, {"max_tokens", 40},
                       {"stream", (i % 2) == 0}, {"seed", 100 + i}};
          if (t % 2 == 1) body["guidance"] = {{"arms", {{"concise", 0.5}, {"positive", 1.0}}}, {"beta", 0.7}};
          const auto r = post(port, "/v1/completions", body);
          if (r.status != 200) ++errors;
          ++i;
          ++done;
        }
      });
    }
  }
  ~Background() {
    stop = true;
    for (auto& w : workers) w.join();
  }
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0}, done{0};
  std::vector<std::thread> workers;
};

TEST(Server, ModelsHealthAndMetrics) {
  Running s;
  const auto models = http(s.port, "GET", "/v1/models");
  ASSERT_EQ(models.status, 200);
  EXPECT_EQ(models.headers.at("content-type"), "application/json");
  const json m = models.json();
  EXPECT_EQ(m["object"], "list");
  ASSERT_EQ(m["data"].size(), 1u);
  EXPECT_EQ(m["data"][0]["id"], "toy-base");
  EXPECT_EQ(m["data"][0]["object"], "model");
  EXPECT_EQ(m["data"][0]["arms"], json({"positive", "concise"}));
  EXPECT_EQ(m["data"][0]["reward_models"], json({"rm", "rm2"}));
  EXPECT_EQ(http(s.port, "GET", "/v1/models/toy-base").json()["id"], "toy-base");
  const auto missing = http(s.port, "GET", "/v1/models/gpt-4");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.json()["error"]["code"], "model_not_found");
  const auto health = http(s.port, "GET", "/health");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.json()["status"], "ok");
  const json done = completion(s.port, {{"prompt", "Hello"}, {"max_tokens", 5}});
  const auto metrics = http(s.port, "GET", "/metrics");
  EXPECT_NE(metrics.body.find("genarm_prompt_tokens_total " + std::to_string(done["usage"]["prompt_tokens"].get<int>()) + "\n"),
            std::string::npos);
  EXPECT_NE(metrics.body.find("genarm_completion_tokens_total " +
                              std::to_string(done["usage"]["completion_tokens"].get<int>()) + "\n"),
            std::string::npos);
  ASSERT_EQ(metrics.status, 200);
  for (const char* name : {"genarm_http_requests_total{endpoint=\"/v1/completions\",status=\"200\"} 1",
                           "genarm_http_requests_total{endpoint=\"/v1/models\",status=\"200\"} 1",
                           "genarm_http_requests_total{endpoint=\"/v1/models/{id}\",status=\"404\"} 1",
                           "genarm_generated_tokens_total", "genarm_queue_length",
                           "genarm_running_sequences", "genarm_mean_batch_size", "genarm_time_per_token_seconds",
                           "genarm_time_to_first_token_seconds_bucket", "genarm_requests_in_flight"}) {
    EXPECT_NE(metrics.body.find(name), std::string::npos) << "missing: " << name;
  }
}

TEST(Server, CompletionsEqualTheCliWhateverElseRuns) {
  Running s;
  Background traffic(s.port, 3);
  const std::string base = toy_model("toy-base").string(), pos = toy_model("toy-arm-positive").string(),
                    con = toy_model("toy-arm-concise").string();
  struct Case {
    json request;
    std::vector<std::string> cli;
  };
  const std::vector<Case> cases = {
      {{{"prompt", "The weather today"}, {"max_tokens", 30}, {"seed", 1}},
       {"--base", base, "--prompt", "The weather today", "--max-new-tokens", "30", "--seed", "1"}},
      {{{"prompt", "The weather today"}, {"max_tokens", 40}, {"seed", 3}, {"temperature", 0.8}, {"top_p", 0.9},
        {"guidance", {{"arms", {{"positive", 0.7}, {"concise", 0.3}}}, {"beta", 0.5}}}},
       {"--base", base, "--arm", pos, "--arm", con, "--weights", "0.7,0.3", "--beta", "0.5", "--prompt",
        "The weather today", "--max-new-tokens", "40", "--seed", "3", "--temperature", "0.8", "--top-p", "0.9"}},
      {{{"prompt", "My favourite food"}, {"max_tokens", 25}, {"seed", 9}, {"top_k", 20}, {"repetition_penalty", 1.3},
        {"presence_penalty", 0.5}, {"frequency_penalty", 0.2}, {"guidance", {{"arms", {{"concise", 1.0}}}}}},
       {"--base", base, "--arm", con, "--prompt", "My favourite food", "--max-new-tokens", "25", "--seed", "9",
        "--top-k", "20", "--repeat-penalty", "1.3", "--presence-penalty", "0.5", "--frequency-penalty", "0.2"}},
      {{{"prompt", "It was a dark and stormy night"}, {"max_tokens", 60}, {"seed", 5}, {"stop", {" the", "."}},
        {"guidance", {{"arms", {{"positive", 1.0}}}, {"beta", 1.0}}}},
       {"--base", base, "--arm", pos, "--prompt", "It was a dark and stormy night", "--max-new-tokens", "60",
        "--seed", "5", "--stop", " the", "--stop", "."}},
      {{{"prompt", {1, 422, 436}}, {"max_tokens", 20}, {"seed", 11}, {"temperature", 0}},
       {"--base", base, "--prompt-ids", "1,422,436", "--max-new-tokens", "20", "--greedy"}},
  };
  for (const auto& c : cases) {
    json req = c.request;
    req["logprobs"] = 0;
    req["model"] = "toy-base";
    const json r = completion(s.port, req);
    ASSERT_EQ(r["choices"].size(), 1u);
    EXPECT_TRUE(same_generation(r["choices"][0], cli_json(c.cli))) << req.dump();
    EXPECT_EQ(r["usage"]["completion_tokens"], r["choices"][0]["logprobs"]["tokens"].size());
    // Streamed: the same text.
    req["stream"] = true;
    const auto streamed = post(s.port, "/v1/completions", req);
    ASSERT_EQ(streamed.status, 200) << streamed.body;
    const auto events = parse_events(streamed.body);
    EXPECT_TRUE(events.done && events.well_formed);
    EXPECT_EQ(stream_texts(events)[0], r["choices"][0]["text"]);
  }
  const auto stop_case = completion(s.port, {{"prompt", "It was a dark and stormy night"}, {"max_tokens", 60}, {"seed", 5},
                                             {"stop", {" the", "."}}, {"guidance", {{"arms", {{"positive", 1.0}}}}}});
  const std::string text = stop_case["choices"][0]["text"];
  EXPECT_EQ(text.find(" the"), std::string::npos);
  EXPECT_EQ(text.find('.'), std::string::npos);
  EXPECT_EQ(traffic.errors, 0);
}

TEST(Server, StreamingShapesAndUsage) {
  Running s;
  const json req = {{"model", "toy-base"}, {"prompt", "The children"}, {"max_tokens", 12}, {"seed", 2}, {"stream", true},
                    {"stream_options", {{"include_usage", true}}}};
  const auto r = post(s.port, "/v1/completions", req);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.at("content-type"), "text/event-stream");
  const auto events = parse_events(r.body);
  ASSERT_TRUE(events.done && events.well_formed);
  ASSERT_GE(events.events.size(), 2u);
  for (const auto& e : events.events) {
    EXPECT_EQ(e["object"], "text_completion");
    EXPECT_EQ(e["id"], events.events[0]["id"]);
  }
  const json& usage = events.events.back();
  EXPECT_TRUE(usage["choices"].empty());
  const json& last = events.events[events.events.size() - 2];
  EXPECT_TRUE(last["choices"][0]["finish_reason"].is_string());
  json plain = req;
  plain.erase("stream");
  plain.erase("stream_options");
  const json whole = completion(s.port, plain);
  EXPECT_EQ(usage["usage"], whole["usage"]);
  EXPECT_EQ(stream_texts(events)[0], whole["choices"][0]["text"]);
}

TEST(Server, ChatCompletions) {
  Running s;
  const json messages = json::array({{{"role", "user"}, {"content", "Tell me about the weather"}}});
  const json req = {{"model", "toy-base"}, {"messages", messages}, {"max_tokens", 20}, {"seed", 4},
                    {"guidance", {{"arms", {{"positive", 1.0}}}, {"beta", 0.5}}}};
  const auto r = post(s.port, "/v1/chat/completions", req);
  ASSERT_EQ(r.status, 200) << r.body;
  const json c = r.json();
  EXPECT_EQ(c["object"], "chat.completion");
  ASSERT_EQ(c["choices"].size(), 1u);
  EXPECT_EQ(c["choices"][0]["message"]["role"], "assistant");
  const std::string content = c["choices"][0]["message"]["content"];
  // The same as /v1/completions on the rendered prompt's ids (HF apply_chat_template(tokenize=True)).
  const auto tpl = chat::ChatTemplate::from_string(kChatTemplate);
  const auto tokenizer = Tokenizer::from_file(toy_model("toy-base"));
  const auto ids = tokenizer.encode(tpl.render(nlohmann::ordered_json::parse(messages.dump()), true), false);
  const json same = completion(s.port, {{"prompt", ids}, {"max_tokens", 20}, {"seed", 4},
                                        {"guidance", {{"arms", {{"positive", 1.0}}}, {"beta", 0.5}}}});
  EXPECT_EQ(content, same["choices"][0]["text"]);
  EXPECT_EQ(c["usage"]["prompt_tokens"], ids.size());

  json streamed = req;
  streamed["stream"] = true;
  streamed["stream_options"] = {{"include_usage", true}};
  streamed["logprobs"] = true;
  streamed["top_logprobs"] = 2;
  const auto sr = post(s.port, "/v1/chat/completions", streamed);
  ASSERT_EQ(sr.status, 200);
  const auto events = parse_events(sr.body);
  ASSERT_TRUE(events.done && events.well_formed);
  EXPECT_EQ(events.events[0]["object"], "chat.completion.chunk");
  EXPECT_EQ(events.events[0]["choices"][0]["delta"]["role"], "assistant");
  EXPECT_TRUE(events.events[0].contains("usage") && events.events[0]["usage"].is_null());
  EXPECT_EQ(stream_texts(events)[0], content);
  size_t tokens = 0;
  for (const auto& e : events.events) {
    for (const auto& ch : e["choices"]) {
      if (ch["logprobs"].is_null()) continue;
      for (const auto& t : ch["logprobs"]["content"]) {
        ++tokens;
        EXPECT_LE(t["top_logprobs"].size(), 2u);
        EXPECT_LE(t["logprob"].get<double>(), 0.0);
        std::string bytes;
        for (const auto& b : t["bytes"]) bytes += static_cast<char>(b.get<int>());
        EXPECT_EQ(bytes, t["token"].get<std::string>());
      }
    }
  }
  EXPECT_EQ(tokens, events.events.back()["usage"]["completion_tokens"]);
  // No template: 400 naming the problem.
  Running bare(ServerOptions{}, toy_models(/*chat=*/false));
  const auto none = post(bare.port, "/v1/chat/completions", req);
  EXPECT_EQ(none.status, 400);
  EXPECT_EQ(none.json()["error"]["code"], "no_chat_template");
  EXPECT_NE(none.json()["error"]["message"].get<std::string>().find("--chat-template"), std::string::npos);
}

TEST(Server, PerArmChatTemplate) {
  // An ARM folder with its own chat template reads the conversation in it.
  TempDir dir("server_arm");
  const auto arm = dir / "concise-chat";
  std::filesystem::create_directories(arm);
  for (const auto& f : std::filesystem::directory_iterator(toy_model("toy-arm-concise"))) {
    std::filesystem::create_symlink(f.path(), arm / f.path().filename());
  }
  const std::string arm_template = "{% for m in messages %}Q: {{ m['content'] }}\n{% endfor %}A:";
  testing::write_file(arm / "chat_template.jinja", arm_template);
  ServerModels models = toy_models();
  models.arms = {{"concise", arm}};
  Running s(ServerOptions{}, models);
  const json messages = json::array({{{"role", "user"}, {"content", "What is the weather like?"}}});
  const auto r = post(s.port, "/v1/chat/completions",
                      {{"model", "toy-base"}, {"messages", messages}, {"max_tokens", 25}, {"seed", 8},
                       {"guidance", {{"arms", {{"concise", 1.0}}}, {"beta", 0.5}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  // The library with the same per-model prompts.
  const GuidedModel model = GuidedModel::load(toy_model("toy-base"), {arm});
  const auto& tok = model.tokenizer();
  const auto ordered = nlohmann::ordered_json::parse(messages.dump());
  Prompts prompts;
  prompts.base = tok.encode(chat::ChatTemplate::from_string(kChatTemplate).render(ordered, true), false);
  prompts.guides = {tok.encode(chat::ChatTemplate::from_string(arm_template).render(ordered, true), false)};
  auto policy = model.new_policy(Guidance{{1.0f}, 0.5f});
  sampling::SamplerParams params;
  params.seed = 8;
  sampling::Sampler sampler(params, model.vocab_size());
  GenerationConfig config;
  config.max_new_tokens = 25;
  config.eos_token_ids = model.eos_token_ids();
  const auto expected = generate(policy, sampler, tok, prompts, config);
  EXPECT_EQ(r.json()["choices"][0]["message"]["content"], expected.text);
  EXPECT_EQ(r.json()["usage"]["completion_tokens"], expected.ids.size());
}

TEST(Server, ChoicesUseSeedPlusIndex) {
  Running s;
  const json base = {{"prompt", {"The house", "A river"}}, {"max_tokens", 15}, {"seed", 20}, {"n", 3}};
  const json r = completion(s.port, base);
  ASSERT_EQ(r["choices"].size(), 6u);
  json streamed = base;
  streamed["stream"] = true;
  streamed["model"] = "toy-base";
  const auto events = parse_events(post(s.port, "/v1/completions", streamed).body);
  ASSERT_TRUE(events.done);
  const auto texts = stream_texts(events);
  for (int p = 0; p < 2; ++p) {
    for (int i = 0; i < 3; ++i) {
      const json& c = r["choices"][p * 3 + i];
      EXPECT_EQ(c["index"], p * 3 + i);
      const json one = completion(s.port, {{"prompt", base["prompt"][p]}, {"max_tokens", 15}, {"seed", 20 + i}});
      EXPECT_EQ(c["text"], one["choices"][0]["text"]) << "prompt " << p << " choice " << i;
      EXPECT_EQ(texts.at(p * 3 + i), c["text"]);
    }
  }
}

TEST(Server, LogprobsAndEcho) {
  Running s;
  const json r = completion(s.port, {{"prompt", "The weather today"}, {"max_tokens", 10}, {"seed", 1}, {"logprobs", 3}});
  const json& lp = r["choices"][0]["logprobs"];
  const size_t n = lp["tokens"].size();
  EXPECT_EQ(n, r["usage"]["completion_tokens"]);
  ASSERT_EQ(lp["token_logprobs"].size(), n);
  ASSERT_EQ(lp["top_logprobs"].size(), n);
  ASSERT_EQ(lp["text_offset"].size(), n);
  std::string joined;
  for (size_t t = 0; t < n; ++t) {
    EXPECT_LE(lp["top_logprobs"][t].size(), 4u);
    EXPECT_GE(lp["top_logprobs"][t].size(), 3u);
    EXPECT_TRUE(lp["top_logprobs"][t].contains(lp["tokens"][t].get<std::string>()));
    // The most likely alternative is at least as likely as the chosen token.
    double best = -1e30;
    for (const auto& [k, v] : lp["top_logprobs"][t].items()) best = std::max(best, v.get<double>());
    EXPECT_GE(best, lp["token_logprobs"][t].get<double>());
    if (lp["tokens"][t] != "</s>") joined += lp["tokens"][t].get<std::string>();
  }
  EXPECT_EQ(joined, r["choices"][0]["text"]);

  const json e = completion(s.port, {{"prompt", "The weather today"}, {"max_tokens", 10}, {"seed", 1}, {"logprobs", 1},
                                     {"echo", true}});
  const json& elp = e["choices"][0]["logprobs"];
  EXPECT_EQ(e["choices"][0]["text"], "The weather today" + r["choices"][0]["text"].get<std::string>());
  EXPECT_EQ(elp["tokens"].size(), 5 + n);  // BOS + 4 prompt tokens, then the completion
  EXPECT_TRUE(elp["token_logprobs"][0].is_null());
  EXPECT_TRUE(elp["top_logprobs"][0].is_null());
  for (size_t t = 1; t < elp["tokens"].size(); ++t) EXPECT_LE(elp["token_logprobs"][t].get<double>(), 0.0);
  for (size_t t = 0; t < n; ++t) EXPECT_EQ(elp["token_logprobs"][5 + t], lp["token_logprobs"][t]);

  // max_tokens 0 with echo: the prompt scored, nothing generated.
  const json score = completion(s.port, {{"prompt", "The weather today"}, {"max_tokens", 0}, {"echo", true}, {"logprobs", 0}});
  EXPECT_EQ(score["choices"][0]["text"], "The weather today");
  EXPECT_EQ(score["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(score["usage"]["completion_tokens"], 0);
  EXPECT_EQ(score["choices"][0]["logprobs"]["tokens"].size(), 5u);
  for (size_t t = 1; t < 5; ++t) EXPECT_EQ(score["choices"][0]["logprobs"]["token_logprobs"][t], elp["token_logprobs"][t]);
}

TEST(Server, BestOfNAndArgsEqualTheCli) {
  Running s;
  Background traffic(s.port, 2);
  const std::string base = toy_model("toy-base").string(), rm = toy_model("toy-rm-positive").string();
  const json bon = completion(s.port, {{"prompt", "The weather today"}, {"max_tokens", 25}, {"seed", 7}, {"logprobs", 0},
                                       {"guidance", {{"method", "best-of-n"}, {"n", 4}, {"reward", "rm"}}}});
  EXPECT_TRUE(same_generation(bon["choices"][0], cli_json({"--base", base, "--method", "best-of-n", "--rm", rm, "--n", "4",
                                                          "--prompt", "The weather today", "--max-new-tokens", "25",
                                                          "--seed", "7"})));
  EXPECT_TRUE(bon["choices"][0]["reward"].is_number());
  // Several choices: the best candidates, best first.
  const json top = completion(s.port, {{"prompt", "The weather today"}, {"max_tokens", 25}, {"seed", 7}, {"n", 2},
                                       {"guidance", {{"method", "best-of-n"}, {"n", 4}}}});
  ASSERT_EQ(top["choices"].size(), 2u);
  EXPECT_EQ(top["choices"][0]["text"], bon["choices"][0]["text"]);
  EXPECT_GE(top["choices"][0]["reward"].get<double>(), top["choices"][1]["reward"].get<double>());
  // Streamed best-of-N sends the chosen text.
  const auto streamed = post(s.port, "/v1/completions",
                             {{"model", "toy-base"}, {"prompt", "The weather today"}, {"max_tokens", 25}, {"seed", 7},
                              {"stream", true}, {"guidance", {{"method", "best-of-n"}, {"n", 4}}}});
  EXPECT_EQ(stream_texts(parse_events(streamed.body))[0], bon["choices"][0]["text"]);

  // ARGS: on the engine (its reward model, the first --rm) and on the ARGS worker (the second).
  const json cli = cli_json({"--base", base, "--method", "args", "--rm", rm, "--k", "6", "--w", "1.5", "--prompt",
                             "My favourite food", "--max-new-tokens", "20", "--seed", "3"});
  for (const char* reward : {"rm", "rm2"}) {
    const json args = completion(s.port, {{"prompt", "My favourite food"}, {"max_tokens", 20}, {"seed", 3}, {"logprobs", 0},
                                          {"guidance", {{"method", "args"}, {"reward", reward}, {"k", 6}, {"w", 1.5}}}});
    EXPECT_EQ(args["choices"][0]["text"], cli["text"]) << reward;
    EXPECT_EQ(args["usage"]["completion_tokens"], cli["ids"].size()) << reward;
  }
  // best_of (OpenAI's): the candidate with the highest mean log-prob per token.
  const json best = completion(s.port, {{"prompt", "A river"}, {"max_tokens", 12}, {"seed", 30}, {"best_of", 3}});
  double best_mean = -1e30;
  std::string best_text;
  for (int i = 0; i < 3; ++i) {
    const json one = completion(s.port, {{"prompt", "A river"}, {"max_tokens", 12}, {"seed", 30 + i}, {"logprobs", 0}});
    double sum = 0;
    const json& lps = one["choices"][0]["logprobs"]["token_logprobs"];
    for (const auto& v : lps) sum += v.get<double>();
    const double mean = lps.empty() ? 0 : sum / static_cast<double>(lps.size());
    if (mean > best_mean + 1e-6) {
      best_mean = mean;
      best_text = one["choices"][0]["text"];
    }
  }
  EXPECT_EQ(best["choices"][0]["text"], best_text);
  EXPECT_EQ(traffic.errors, 0);
}

// Status, OpenAI error object and param of a raw exchange.
::testing::AssertionResult api_error(const testing::HttpResponse& r, int status, const std::string& code,
                                     const std::string& param = {}) {
  if (r.status != status) return ::testing::AssertionFailure() << "status " << r.status << ": " << r.body;
  json j;
  try {
    j = r.json();
  } catch (const std::exception&) {
    return ::testing::AssertionFailure() << "not JSON: " << r.body;
  }
  const json& e = j["error"];
  if (!e.is_object() || !e["message"].is_string() || !e["type"].is_string() || !e.contains("param") || !e.contains("code")) {
    return ::testing::AssertionFailure() << "not an OpenAI error object: " << r.body;
  }
  if ((code.empty() ? e["code"].is_null() : e["code"] == code) && (param.empty() ? e["param"].is_null() : e["param"] == param)) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << r.body;
}

TEST(Server, ErrorsAreOpenAiErrorBodies) {
  ServerOptions o;
  o.limits.max_body_bytes = 4096;
  Running s(o);
  const auto raw = [&](const std::string& body) { return http(s.port, "POST", "/v1/completions", body); };
  EXPECT_TRUE(api_error(raw("{\"model\": \"toy-base\", \"prompt\": "), 400, "invalid_json"));
  EXPECT_TRUE(api_error(raw("{\"model\": \"toy-base\", \"prompt\": \"\xff\xfe\"}"), 400, "invalid_json"));
  EXPECT_TRUE(api_error(raw("{\"model\": \"toy-base\", \"prompt\": \"a\", \"stop\": \"\xe2\x82\"}"), 400, "invalid_json"));
  EXPECT_TRUE(api_error(raw(R"({"model": "toy-base", "prompt": "a", "temperature": "x"})"), 400, "invalid_type", "temperature"));
  EXPECT_TRUE(api_error(raw(R"({"model": "toy-base", "prompt": "a", "foo": 1})"), 400, "unknown_parameter", "foo"));
  EXPECT_TRUE(api_error(raw(R"({"model": "toy-base", "prompt": "a", "guidance": {"arms": {"happy": 1}}})"), 400,
                        "unknown_arm", "guidance.arms.happy"));
  EXPECT_TRUE(api_error(raw(R"({"model": "toy-base", "prompt": "a", "guidance": {"arms": {"positive": 1}, "beta": 0}})"),
                        400, "invalid_value", "guidance.beta"));
  EXPECT_TRUE(api_error(raw(R"({"model": "toy-base", "prompt": "a", "guidance": {"arms": {"positive": 1e999}}})"), 400,
                        "invalid_json"));
  EXPECT_TRUE(api_error(raw(R"({"model": "toy-base", "prompt": "a", "guidance": {"temperature": 1}})"), 400,
                        "unknown_parameter", "guidance.temperature"));
  EXPECT_TRUE(api_error(raw(R"({"model": "toy-base", "prompt": "a", "n": 100})"), 400, "invalid_value", "n"));
  EXPECT_TRUE(api_error(raw(R"({"model": "toy-base", "prompt": "a", "max_tokens": 100000})"), 400, "invalid_value", "max_tokens"));
  EXPECT_TRUE(api_error(raw(R"({"model": "nope", "prompt": "a"})"), 404, "model_not_found", "model"));
  EXPECT_TRUE(api_error(http(s.port, "GET", "/v2/anything"), 404, "unknown_url"));
  EXPECT_TRUE(api_error(http(s.port, "GET", "/v1/chat/completions"), 405, "method_not_allowed"));
  // Body over the limit: 413, with and without Expect: 100-continue (answered before the body).
  const std::string big = R"({"model": "toy-base", "prompt": ")" + std::string(5000, 'a') + "\"}";
  EXPECT_TRUE(api_error(raw(big), 413, "request_too_large"));
  {
    HttpConnection c(s.port);
    ASSERT_TRUE(c.send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n"));
    const auto r = testing::parse_response(c.read_all(5000));
    EXPECT_TRUE(api_error(r, 413, "request_too_large"));
  }
  // A malformed HTTP request: a JSON 400 and the connection closed.
  {
    HttpConnection c(s.port);
    ASSERT_TRUE(c.send("BLAH\r\n\r\n"));
    const auto r = testing::parse_response(c.read_all(5000));
    EXPECT_TRUE(api_error(r, 400, "bad_request"));
    EXPECT_TRUE(c.eof());
  }
  // Keep-alive still works after a 400 from a handler.
  {
    HttpConnection c(s.port);
    const std::string body = R"({"model": "toy-base", "prompt": "a", "foo": 1})";
    const std::string good = R"({"model": "toy-base", "prompt": "a", "max_tokens": 2})";
    const auto req = [](const std::string& b) {
      return "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(b.size()) + "\r\n\r\n" + b;
    };
    ASSERT_TRUE(c.send(req(body) + req(good)));
    std::string all;
    EXPECT_TRUE(eventually([&] {
      all += c.read_some(100);
      return all.find("text_completion") != std::string::npos;
    }));
    EXPECT_NE(all.find("HTTP/1.1 400"), std::string::npos);
    EXPECT_NE(all.find("HTTP/1.1 200"), std::string::npos);
  }
  EXPECT_EQ(http(s.port, "GET", "/health").status, 200);  // the server survived all of it
}

TEST(Server, ApiKey) {
  ServerOptions o;
  o.api_key = "sk-test-123";
  Running s(o);
  const json body = {{"model", "toy-base"}, {"prompt", "a"}, {"max_tokens", 2}};
  EXPECT_TRUE(api_error(post(s.port, "/v1/completions", body), 401, "missing_api_key"));
  EXPECT_TRUE(api_error(post(s.port, "/v1/completions", body, {"Authorization: Bearer sk-wrong"}), 401, "invalid_api_key"));
  EXPECT_TRUE(api_error(http(s.port, "GET", "/v1/models", "", {"Authorization: sk-test-123"}), 401, "invalid_api_key"));
  EXPECT_EQ(post(s.port, "/v1/completions", body, {"Authorization: Bearer sk-test-123"}).status, 200);
  EXPECT_EQ(http(s.port, "GET", "/v1/models", "", {"Authorization: Bearer sk-test-123"}).status, 200);
  EXPECT_EQ(http(s.port, "GET", "/health").status, 200);  // health and metrics stay open
}

// A request that runs for many seconds unless cancelled: ARGS scoring 2048 candidates per
// token, EOS banned.
json slow_request(bool stream) {
  return {{"model", "toy-base"}, {"prompt", "The weather"}, {"max_tokens", 400}, {"stream", stream},
          {"logit_bias", {{"2", -100}}}, {"guidance", {{"method", "args"}, {"k", 2048}}}};
}

TEST(Server, DisconnectFreesTheSlot) {
  Running s;
  for (bool stream : {true, false}) {
    HttpConnection c(s.port);
    ASSERT_TRUE(c.send(request_text("POST", "/v1/completions", slow_request(stream).dump())));
    ASSERT_TRUE(eventually([&] { return s.server->stats().running == 1; }));
    if (stream) {
      std::string got;
      ASSERT_TRUE(eventually([&] {
        got += c.read_some(50);
        return got.find("data: {") != std::string::npos;
      }, 10000));
    }
    const auto t0 = std::chrono::steady_clock::now();
    c.close();
    EXPECT_TRUE(eventually([&] { return s.server->stats().running == 0 && s.server->in_flight() == 0; }, 3000))
        << (stream ? "stream" : "non-stream");
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  }
  const auto metrics = http(s.port, "GET", "/metrics").body;
  EXPECT_NE(metrics.find("genarm_requests_cancelled_total 2"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("genarm_running_sequences 0"), std::string::npos);
}

TEST(Server, TooManyRequestsAndConnections) {
  ServerOptions o;
  o.limits.max_concurrent = 1;
  o.max_connections = 3;
  Running s(o);
  HttpConnection slow(s.port);
  ASSERT_TRUE(slow.send(request_text("POST", "/v1/completions", slow_request(true).dump())));
  ASSERT_TRUE(eventually([&] { return s.server->in_flight() == 1; }));
  const auto r = post(s.port, "/v1/completions", {{"model", "toy-base"}, {"prompt", "a"}, {"max_tokens", 2}});
  EXPECT_TRUE(api_error(r, 429, "rate_limit_exceeded"));
  EXPECT_EQ(r.headers.at("retry-after"), "1");
  // Connections: 3 threads; the slow stream holds one, two idle connections the others.
  // (The thread of the 429 above is free once its client has closed.)
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  HttpConnection idle1(s.port), idle2(s.port);
  ASSERT_TRUE(idle1.send("GET /health HTTP/1.1\r\nHost: x\r\n"));  // an unfinished request
  ASSERT_TRUE(idle2.send("GET /health HTTP/1.1\r\nHost: x\r\n"));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_TRUE(idle1.read_some(0).empty() && !idle1.eof());  // both hold a connection thread
  ASSERT_TRUE(idle2.read_some(0).empty() && !idle2.eof());
  EXPECT_TRUE(api_error(http(s.port, "GET", "/health"), 429, "rate_limit_exceeded"));
  idle1.close();
  idle2.close();
  slow.close();
  ASSERT_TRUE(eventually([&] { return s.server->in_flight() == 0; }));
  EXPECT_TRUE(eventually([&] { return http(s.port, "GET", "/health").status == 200; }));
  EXPECT_EQ(post(s.port, "/v1/completions", {{"model", "toy-base"}, {"prompt", "a"}, {"max_tokens", 2}}).status, 200);
}

TEST(Server, SlowClientsTimeOut) {
  ServerOptions o;
  o.read_timeout = 0.5;
  o.request_timeout = 1.0;
  o.keep_alive_timeout = 0.5;
  Running s(o);
  // One byte every 0.3 s: each read is within the read timeout, the request is not.
  HttpConnection trickle(s.port);
  const std::string req = request_text("POST", "/v1/completions", R"({"model": "toy-base", "prompt": "hello there"})");
  const auto t0 = std::chrono::steady_clock::now();
  size_t sent = 0;
  std::string reply;
  while (sent < req.size() && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5)) {
    if (!trickle.send(req.substr(sent++, 1))) break;
    reply += trickle.read_some(300);
    if (trickle.eof()) break;
  }
  EXPECT_TRUE(trickle.eof() || reply.find("HTTP/1.1 400") != std::string::npos) << reply;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  EXPECT_LT(sent, req.size());
  // A connection that sends nothing is closed after the keep-alive timeout.
  HttpConnection silent(s.port);
  EXPECT_TRUE(eventually([&] {
    silent.read_some(50);
    return silent.eof();
  }, 3000));
  EXPECT_EQ(http(s.port, "GET", "/health").status, 200);
}

TEST(Server, ClientThatStopsReadingIsDropped) {
  ServerOptions o;
  o.write_timeout = 0.5;
  Running s(o);
  // A tiny receive window and megabytes of stream never read: 8 choices echo a 401-token prompt
  // with 20 log-probs per token.
  HttpConnection c(s.port, /*rcvbuf=*/2048);
  std::vector<int32_t> prompt(401, 436);
  prompt[0] = 1;
  json body = {{"model", "toy-base"}, {"prompt", prompt}, {"max_tokens", 100}, {"stream", true}, {"n", 8},
               {"echo", true}, {"logprobs", 20}, {"logit_bias", {{"2", -100}}}};
  ASSERT_TRUE(c.send(request_text("POST", "/v1/completions", body.dump())));
  ASSERT_TRUE(eventually([&] { return s.server->in_flight() == 1; }));
  EXPECT_TRUE(eventually([&] { return s.server->in_flight() == 0; }, 15000));
  const auto metrics = http(s.port, "GET", "/metrics").body;
  EXPECT_NE(metrics.find("genarm_requests_cancelled_total 1"), std::string::npos) << metrics.substr(0, 600);
}

#ifdef GENARM_CLI_PATH
// genarm template prints what the server renders (HF apply_chat_template), and its ids.
TEST(Server, TemplateCommand) {
  TempDir dir("server_template_cmd");
  const auto messages = dir / "messages.json";
  testing::write_file(messages, R"([{"role": "user", "content": "Hello there"}, {"role": "assistant", "content": "Hi"},
      {"role": "user", "content": "How are you?"}])");
  const auto r = testing::run_cli({"template", "--model", "toy-base", "--messages", messages.string(), "--chat-template",
                                   template_file().string(), "--add-generation-prompt"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto ordered = nlohmann::ordered_json::parse(testing::read_file(messages));
  const std::string text = chat::ChatTemplate::from_string(kChatTemplate).render(ordered, true);
  EXPECT_EQ(r.out, text);
  const auto ids = testing::run_cli({"template", "--model", "toy-base", "--messages", messages.string(), "--chat-template",
                                     template_file().string(), "--add-generation-prompt", "--ids"});
  ASSERT_EQ(ids.exit_code, 0) << ids.err;
  std::string expected;
  for (int32_t id : Tokenizer::from_file(toy_model("toy-base")).encode(text, false)) {
    expected += (expected.empty() ? "" : ",") + std::to_string(id);
  }
  EXPECT_EQ(ids.out, expected + "\n");
  const auto none = testing::run_cli({"template", "--model", "toy-base", "--messages", messages.string()});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("no chat template"), std::string::npos) << none.err;
}

// The real binary: SIGTERM drains (running streams finish, new connections are refused), exit 0.
TEST(Server, DrainOnSigterm) {
  TempDir dir("server_drain");
  const auto err_path = dir / "stderr";
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 2);
    ::execl(GENARM_CLI_PATH, GENARM_CLI_PATH, "serve", "--port", "0", "--rm", "rm=toy-rm-positive", nullptr);
    ::_exit(127);
  }
  int port = 0;
  ASSERT_TRUE(eventually([&] {
    const std::string e = testing::read_file(err_path);
    const auto at = e.find("127.0.0.1:");
    if (at == std::string::npos) return false;
    port = std::stoi(e.substr(at + 10));
    return true;
  }, 10000));
  json body = slow_request(true);
  body["max_tokens"] = 30;
  body["guidance"]["k"] = 512;
  HttpConnection c(port);
  ASSERT_TRUE(c.send(request_text("POST", "/v1/completions", body.dump())));
  std::string got;
  ASSERT_TRUE(eventually([&] {
    got += c.read_some(50);
    return got.find("data: {") != std::string::npos;
  }, 10000));
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  // New connections are refused once the listener is shut down.
  EXPECT_TRUE(eventually([&] { return !HttpConnection(port).connected(); }, 3000));
  got += c.read_all(20000);
  const auto events = parse_events(testing::parse_response(got).body);
  EXPECT_TRUE(events.done) << got.substr(got.size() > 300 ? got.size() - 300 : 0);
  ASSERT_GE(events.events.size(), 2u);
  EXPECT_EQ(events.events.back()["choices"][0]["finish_reason"], "length");
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << "\n" << testing::read_file(err_path);
}
#endif

}  // namespace
}  // namespace genarm::server
