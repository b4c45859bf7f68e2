// Load test of genarm serve (not a ctest; run by hand, loopback only, bounded in time):
//   genarm_server_load [--clients 32] [--requests 20] [--max-tokens 32] [--batch-size 8] [--time-limit 300]
// Starts an in-process server on the bundled toy family (toy-base, ARMs positive and concise, RM
// toy-rm-positive) on a free 127.0.0.1 port and runs three scenarios with the same requests
// (streaming, mixed guidance: base alone, positive beta 1, positive beta 0.5, positive 0.5 +
// concise 0.5; EOS banned so every request generates exactly --max-tokens tokens):
//   batched      --clients concurrent clients, engine batch --batch-size (continuous batching)
//   batch 1      the same clients, engine batch 1 (requests served one at a time)
//   sequential   one client sending the requests one after another (batch --batch-size)
// and prints errors, time to first token and per token (p50 / p99), aggregate tokens/s and the
// engine's mean batch size.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "../server_support.hpp"
#include "genarm/server/server.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using genarm::server::Server;
using genarm::server::ServerModels;
using genarm::server::ServerOptions;
using genarm::testing::HttpConnection;
using genarm::testing::toy_model;
using nlohmann::json;

struct Sample {
  double ttft = 0.0;       // seconds from sending to the first token's chunk
  double per_token = 0.0;  // seconds between tokens after the first
  int tokens = 0;
  bool ok = false;
};

json request_body(int client, int r, int max_tokens) {
  json body = {{"model", "toy-base"}, {"prompt", "The weather today is"}, {"max_tokens", max_tokens}, {"stream", true},
               {"stream_options", {{"include_usage", true}}}, {"seed", client * 1000 + r}, {"logit_bias", {{"2", -100}}}};
  switch ((client + r) % 4) {
    case 0: break;  // the base alone
    case 1: body["guidance"] = {{"arms", {{"positive", 1.0}}}, {"beta", 1.0}}; break;
    case 2: body["guidance"] = {{"arms", {{"positive", 1.0}}}, {"beta", 0.5}}; break;
    default: body["guidance"] = {{"arms", {{"positive", 0.5}, {"concise", 0.5}}}, {"beta", 0.5}}; break;
  }
  return body;
}

// One streamed request, timed as a client sees it.
Sample run_one(int port, const json& body) {
  Sample s;
  HttpConnection c(port);
  const auto t0 = Clock::now();
  if (!c.connected() || !c.send(genarm::testing::request_text("POST", "/v1/completions", body.dump()))) return s;
  std::string buffer;
  size_t scanned = 0;
  Clock::time_point first, last;
  int token_chunks = 0;
  bool done = false;
  while (!done) {
    const std::string got = c.read_some(30000);
    if (got.empty()) break;
    const auto now = Clock::now();
    buffer += got;
    for (size_t at; (at = buffer.find("data: ", scanned)) != std::string::npos;) {
      const size_t end = buffer.find("\n\n", at);
      if (end == std::string::npos) break;
      const std::string data = buffer.substr(at + 6, end - at - 6);
      scanned = end + 2;
      if (data == "[DONE]") {
        done = true;
        break;
      }
      const json chunk = json::parse(data, nullptr, false);
      if (chunk.is_discarded() || chunk.contains("error")) return s;
      if (chunk.contains("usage") && chunk["usage"].is_object()) s.tokens = chunk["usage"]["completion_tokens"];
      if (!chunk["choices"].empty() && !chunk["choices"][0]["text"].get<std::string>().empty()) {
        if (token_chunks++ == 0) first = now;
        last = now;
      }
    }
  }
  if (!done || token_chunks == 0 || buffer.compare(0, 12, "HTTP/1.1 200") != 0) return s;
  s.ttft = std::chrono::duration<double>(first - t0).count();
  s.per_token = s.tokens > 1 ? std::chrono::duration<double>(last - first).count() / (s.tokens - 1) : 0.0;
  s.ok = true;
  return s;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5))];
}

double metric(const std::string& text, const std::string& name) {
  const size_t at = text.find("\n" + name + " ");
  return at == std::string::npos ? 0.0 : std::atof(text.c_str() + at + name.size() + 2);
}

void scenario(const char* name, size_t batch, int clients, int requests, int max_tokens, double time_limit) {
  ServerModels models;
  models.base = toy_model("toy-base");
  models.arms = {{"positive", toy_model("toy-arm-positive")}, {"concise", toy_model("toy-arm-concise")}};
  models.rms = {{"rm", toy_model("toy-rm-positive")}};
  ServerOptions o;
  o.port = 0;
  o.batch_size = batch;
  o.limits.max_concurrent = static_cast<size_t>(clients) * 2;
  Server server(models, o);
  server.start();
  const int port = server.port();
  std::vector<std::vector<Sample>> samples(static_cast<size_t>(clients));
  const auto t0 = Clock::now();
  const auto deadline = t0 + std::chrono::duration<double>(time_limit);
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      for (int r = 0; r < requests && Clock::now() < deadline; ++r) {
        samples[static_cast<size_t>(c)].push_back(run_one(port, request_body(c, r, max_tokens)));
      }
    });
  }
  for (auto& t : threads) t.join();
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  const std::string metrics = genarm::testing::http(port, "GET", "/metrics").body;
  server.stop();
  std::vector<double> ttft, per_token;
  long tokens = 0, errors = 0, done = 0;
  for (const auto& v : samples) {
    for (const auto& s : v) {
      ++done;
      if (!s.ok) {
        ++errors;
        continue;
      }
      ttft.push_back(s.ttft * 1e3);
      per_token.push_back(s.per_token * 1e3);
      tokens += s.tokens;
    }
  }
  std::printf("| %s | %zu | %d | %ld | %ld | %.1f / %.1f | %.2f / %.2f | %.0f | %.2f | %.1f |\n", name, batch, clients,
              done, errors, percentile(ttft, 0.5), percentile(ttft, 0.99), percentile(per_token, 0.5),
              percentile(per_token, 0.99), static_cast<double>(tokens) / wall, metric(metrics, "genarm_mean_batch_size"),
              wall);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  int clients = 32, requests = 20, max_tokens = 32;
  size_t batch = 8;
  double time_limit = 300;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* v = argv[i + 1];
    if (flag == "--clients") clients = std::atoi(v);
    else if (flag == "--requests") requests = std::atoi(v);
    else if (flag == "--max-tokens") max_tokens = std::atoi(v);
    else if (flag == "--batch-size") batch = static_cast<size_t>(std::atoi(v));
    else if (flag == "--time-limit") time_limit = std::atof(v);
    else {
      std::fprintf(stderr, "unknown option %s\n", flag.c_str());
      return 2;
    }
  }
  std::printf("%d clients x %d streaming requests, %d tokens each, mixed guidance (toy family)\n\n", clients, requests,
              max_tokens);
  std::printf("| scenario | batch | clients | requests | errors | TTFT p50 / p99 (ms) | per token p50 / p99 (ms) | "
              "tokens/s | mean batch | wall (s) |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
  scenario("batched", batch, clients, requests, max_tokens, time_limit);
  scenario("batch 1", 1, clients, requests, max_tokens, time_limit);
  scenario("sequential", batch, 1, clients * requests, max_tokens, time_limit);
  return 0;
}
