// genarm serve: an OpenAI-compatible HTTP server (POST /v1/completions, /v1/chat/completions,
// GET /v1/models, /health, /metrics) over a base model and named ARMs loaded once, in which every
// request chooses its guidance ("guidance": {"arms": {"positive": 0.7}, "beta": 0.5}).
// SIGINT / SIGTERM drain: stop accepting, finish running requests, exit 0 (a second signal exits
// at once with code 1).
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "args.hpp"
#include "commands.hpp"
#include "common.hpp"
#include "genarm/server/server.hpp"

namespace genarm::cli {
namespace {

const char* kUsage =
    "usage: genarm serve [--base DIR] [--arm NAME=DIR]... [--rm NAME=DIR]... [--host 127.0.0.1] [--port 8080]\n"
    "         [--api-key KEY] [--batch-size N] [--threads N] [--chat-template FILE] [--model-name NAME] [limits]\n\n"
    "Serves the OpenAI API (POST /v1/completions, /v1/chat/completions, stream: true as server-sent\n"
    "events; GET /v1/models, /health, /metrics; POST /tokenize). As the base of a remote GenARM caller\n"
    "(genarm generate --base http://HOST:PORT/v1), start it with --max-logprobs all.\n"
    "Each request picks its guidance with an extra field (OpenAI clients: extra_body):\n"
    "  \"guidance\": {\"arms\": {\"positive\": 0.7, \"concise\": 0.3}, \"beta\": 0.5}\n"
    "  \"guidance\": {\"method\": \"best-of-n\", \"n\": 4, \"reward\": \"rm\"}\n"
    "  \"guidance\": {\"method\": \"args\", \"k\": 10, \"w\": 1.5}\n"
    "ARMs and RMs are named by --arm / --rm NAME=DIR (a DIR alone is named after its folder).\n\n";

std::vector<OptionSpec> options() {
  return {
      {"--base", "DIR", "base model folder or bundled name (default toy-base)"},
      {"--arm", "NAME=DIR", "an ARM requests can name in guidance.arms", true},
      {"--rm", "NAME=DIR", "a trajectory reward model (best-of-n reward, ARGS)", true},
      {"--host", "ADDR", "address to listen on (default 127.0.0.1: this machine only)"},
      {"--port", "N", "port (default 8080; 0 = any free port, printed on stderr)"},
      {"--api-key", "KEY", "require 'Authorization: Bearer KEY' on /v1/* (default $GENARM_API_KEY, else none)"},
      {"--model-name", "NAME", "the model id of /v1/models and requests' \"model\" (default the base folder's name)"},
      {"--chat-template", "FILE", "Jinja chat template for the base (default its folder's, if any)"},
      {"--batch-size", "N", "sequences decoded together (default 8; bounds n)"},
      {"--max-step-tokens", "N", "prompt tokens prefilled per model per engine step (default 256)"},
      {"--threads", "N", "threads per forward pass (default 1; 0 = all cores)"},
      {"--max-concurrent", "N", "generation requests queued or running at most; more get 429 (default 64)"},
      {"--max-connections", "N", "connection threads (default max-concurrent + 16; more connections get 429)"},
      {"--max-body-bytes", "N", "request body at most N bytes; more get 413 (default 1048576)"},
      {"--max-prompt-tokens", "N", "prompt tokens at most (default the base's context - 1)"},
      {"--max-tokens", "N", "max_tokens at most (default 2048; the chat default)"},
      {"--max-n", "N", "n, best_of and guidance.n at most (default the batch size)"},
      {"--max-prompts", "N", "prompts per /v1/completions request at most (default 32)"},
      {"--max-logprobs", "N", "logprobs / top_logprobs at most (default 20, as vLLM; 'all' = the vocabulary, for a remote GenARM base)"},
      {"--prefix-cache", "N", "cached prompt states per model for next-token requests (max_tokens 1; default 8; 0 = off)"},
      {"--read-timeout", "S", "seconds a read may wait for the client (default 10)"},
      {"--write-timeout", "S", "seconds a write may wait for the client to read (default 10)"},
      {"--request-timeout", "S", "seconds to receive a whole request (default 30)"},
      {"--keep-alive-timeout", "S", "seconds an idle connection stays open (default 5)"},
      {"--access-log", "", "one line per response on stderr"},
  };
}

server::NamedModel named(const std::string& spec) {
  const auto eq = spec.find('=');
  server::NamedModel m;
  if (eq == std::string::npos) {
    m.dir = resolve_model(spec);
    m.name = std::filesystem::path(spec).lexically_normal().filename().string();
    if (m.name.empty()) m.name = m.dir.filename().string();
  } else {
    m.name = spec.substr(0, eq);
    if (m.name.empty()) throw UsageError("'" + spec + "': the name before '=' is empty (NAME=DIR)");
    m.dir = resolve_model(spec.substr(eq + 1));
  }
  return m;
}

}  // namespace

int run_serve(const Argv& argv) {
  Args args("serve", options());
  if (!args.parse(argv)) {
    std::printf("%s%s", kUsage, args.help().c_str());
    return 0;
  }
  server::ServerModels models;
  models.base = resolve_model(args.get_or("--base", "toy-base"));
  for (const auto& a : args.all("--arm")) models.arms.push_back(named(a));
  for (const auto& r : args.all("--rm")) models.rms.push_back(named(r));
  if (auto t = args.get("--chat-template")) models.chat_template = *t;
  models.model_name = args.get_or("--model-name", std::filesystem::path(args.get_or("--base", "toy-base")).lexically_normal().filename().string());

  server::ServerOptions o;
  o.host = args.get_or("--host", "127.0.0.1");
  o.port = static_cast<int>(args.get_int("--port", 8080, 0, 65535));
  const char* env_key = std::getenv("GENARM_API_KEY");
  o.api_key = args.get_or("--api-key", env_key != nullptr ? env_key : "");
  o.batch_size = static_cast<size_t>(args.get_int("--batch-size", 8, 1, 128));
  o.max_step_tokens = args.get_int("--max-step-tokens", 256, 1, 1 << 20);
  o.threads = static_cast<size_t>(args.get_int("--threads", 1, 0, 1024));
  o.limits.max_concurrent = static_cast<size_t>(args.get_int("--max-concurrent", 64, 1, 1 << 16));
  o.max_connections = static_cast<size_t>(args.get_int("--max-connections", 0, 0, 1 << 16));
  o.limits.max_body_bytes = static_cast<size_t>(args.get_int("--max-body-bytes", 1 << 20, 1024, int64_t{1} << 32));
  o.limits.max_prompt_tokens = static_cast<size_t>(args.get_int("--max-prompt-tokens", 0, 1, int64_t{1} << 32));
  o.limits.max_tokens = static_cast<int>(args.get_int("--max-tokens", 2048, 1, 1 << 24));
  o.limits.max_n = static_cast<int>(args.get_int("--max-n", 0, 1, 128));
  o.limits.max_prompts = static_cast<size_t>(args.get_int("--max-prompts", 32, 1, 1 << 16));
  if (args.get_or("--max-logprobs", "") == "all") {
    o.limits.max_logprobs = -1;
  } else {
    o.limits.max_logprobs = static_cast<int>(args.get_int("--max-logprobs", 20, 0, 1 << 24));
  }
  o.prefix_cache = static_cast<size_t>(args.get_int("--prefix-cache", 8, 0, 1 << 16));
  const auto seconds = [&](const char* flag, double fallback) {
    const double v = args.get_double(flag, fallback);
    if (!(v > 0)) fail(ErrorCategory::kInvalidArgument, flag, ": expected a number of seconds > 0, got ", v);
    return v;
  };
  o.read_timeout = seconds("--read-timeout", 10);
  o.write_timeout = seconds("--write-timeout", 10);
  o.request_timeout = seconds("--request-timeout", 30);
  o.keep_alive_timeout = seconds("--keep-alive-timeout", 5);
  if (args.flag("--access-log")) o.access_log = stderr;

  // Signals go to one thread (sigwait), so every thread the server starts inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  server::Server server(models, o);
  const int port = server.bind();
  std::string arms, rms;
  for (const auto& a : server.served().arm_names) arms += (arms.empty() ? "" : ", ") + a;
  for (const auto& r : server.served().rm_names) rms += (rms.empty() ? "" : ", ") + r;
  std::fprintf(stderr, "genarm serve: listening on http://%s:%d (model %s; ARMs: %s; RMs: %s; chat template: %s)\n",
               o.host.c_str(), port, server.served().name.c_str(), arms.empty() ? "none" : arms.c_str(),
               rms.empty() ? "none" : rms.c_str(), server.served().chat_template ? "yes" : "no");
  for (const auto& note : server.served().model->compatibility_notes()) {
    std::fprintf(stderr, "genarm serve: note: %s\n", note.c_str());
  }
  std::fflush(stderr);
  std::thread([&server, signals] {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) return;
    std::fprintf(stderr, "genarm serve: %s: draining (finishing running requests; again to exit now)\n",
                 sig == SIGINT ? "SIGINT" : "SIGTERM");
    std::fflush(stderr);
    server.drain();
    if (sigwait(&signals, &sig) != 0) return;
    std::fprintf(stderr, "genarm serve: exiting without draining\n");
    std::_Exit(1);
  }).detach();
  server.run();
  std::fprintf(stderr, "genarm serve: stopped\n");
  return 0;
}

}  // namespace genarm::cli
