// genarm::server::Server — an OpenAI-compatible HTTP server over one GuidedModel (a base and its
// named ARMs, loaded once) in which every request chooses its own guidance.
//
//   POST /v1/completions, POST /v1/chat/completions   (stream: true = server-sent events)
//   GET  /v1/models, /v1/models/{id}, /health, /metrics (Prometheus text)
//   POST /tokenize (vLLM's: {"prompt"} -> {"tokens", "count", "max_model_len"})
// What a remote GenARM caller needs (remote/remote_source.hpp): log-probs up to the vocabulary
// (ServerLimits::max_logprobs), vLLM's return_tokens_as_token_ids / return_token_ids, and next-token
// requests answered from a prefix cache (ServerOptions::prefix_cache).
//
// Threads: one engine thread steps one BatchGenerator (continuous batching: every running
// sequence of every request shares each pass over the weights); ARGS requests, which the batch
// engine does not run, go one at a time to an ARGS worker thread; HTTP connections are served by
// a fixed pool of connection threads (cpp-httplib parses and routes; the connection loop, its
// timeouts and disconnect detection are genarm's, see server-inl.hpp). A connection thread
// validates a request (openai_protocol.hpp), submits it, and waits for its tokens, which the
// engine's callbacks hand over through a per-request queue.
// Robustness: binds 127.0.0.1 unless told otherwise; optional API key (Authorization: Bearer);
// bounded body, prompt, max_tokens, n, connections and requests in flight (429 + Retry-After);
// read timeouts per read and per whole request (a client trickling bytes cannot hold a
// connection thread), write timeouts (a client that stops reading is dropped); a client that
// disconnects has its request cancelled at once (BatchGenerator::cancel); drain() stops
// accepting, lets running requests finish and then returns from run().
// Results equal `genarm generate` with the same seed and parameters bit for bit (the engine is
// batch-invariant): choice i of a request uses seed + i.
// Ownership: owns the models, the engine, its threads and sockets.
// Thread-safety: drain(), stop(), port(), metrics() and stats() are thread-safe; bind(), run()
// and start() are called once, from one thread.
#pragma once

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "genarm/generate/batch_generator.hpp"
#include "genarm/server/openai_protocol.hpp"

namespace genarm::server {

struct NamedModel {
  std::string name;             // how requests name it ("positive")
  std::filesystem::path dir;    // Hugging Face folder
};

// What to load.
struct ServerModels {
  std::filesystem::path base;
  std::vector<NamedModel> arms;           // ARMs, in the order of the GuidedModel
  std::vector<NamedModel> rms;            // trajectory reward models (best-of-N, ARGS)
  std::filesystem::path chat_template;    // empty: the base folder's own
  std::string model_name;                 // empty: the base folder's name
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                        // 0: any free port (see port())
  std::string api_key;                    // non-empty: /v1/* needs "Authorization: Bearer <key>"
  size_t batch_size = 8;                  // sequences decoded together
  int64_t max_step_tokens = 256;          // prompt tokens prefilled per model per step
  size_t threads = 1;                     // threads per forward pass (0 = all cores)
  ServerLimits limits;
  double read_timeout = 10.0;             // seconds one read may wait for bytes
  double write_timeout = 10.0;            // seconds one write may wait for the client to read
  double request_timeout = 30.0;          // seconds to receive a whole request (line, headers, body)
  double keep_alive_timeout = 5.0;        // seconds an idle connection stays open
  size_t max_connections = 0;             // connection threads; 0 = limits.max_concurrent + 16
  // Next-token requests (max_tokens 1, one choice, not streamed, no echo — a remote GenARM
  // caller's) resume from this many cached prompt states per model; 0 sends them to the batch
  // engine like any other request (every prompt then recomputed).
  size_t prefix_cache = 8;
  std::FILE* access_log = nullptr;        // one line per response, if set
};

class Server {
 public:
  // Loads the models (genarm::Error naming the folder on failure).
  Server(const ServerModels& models, ServerOptions options);
  ~Server();  // stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds host:port (Error(kIo) if it cannot); returns the port (the chosen one for port 0).
  int bind();
  // Serves until drain(): returns once every connection has finished. bind() first.
  void run();
  // bind() and run() on a background thread (tests, embedding).
  void start();
  // Stops accepting connections and requests (new ones get 503), closes idle connections, lets
  // running requests finish; run() then returns. Idempotent.
  void drain();
  // drain() and wait for run() to return (the start() thread).
  void stop();

  int port() const;
  bool draining() const;
  const ServedModels& served() const;
  BatchStats stats() const;        // the engine's counters
  size_t in_flight() const;        // generation requests accepted and not finished
  std::string metrics() const;     // GET /metrics

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace genarm::server

#if !defined(GENARM_SERVER_COMPILED_LIB)
#include "genarm/server/server-inl.hpp"
#endif
