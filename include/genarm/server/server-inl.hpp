// Out-of-line definitions of server.hpp (compiled once under GENARM_SERVER_COMPILED_LIB, inline
// otherwise). Needs cpp-httplib (Debian: libcpp-httplib-dev; link pkg-config's cpp-httplib).
//
// HTTP: cpp-httplib parses requests and routes them; genarm replaces its per-connection loop
// (Server::process_and_close_socket) with its own, over its own Stream (Connection below), for
// what the library's loop cannot do: a deadline on receiving a whole request (httplib only
// bounds each read, so one byte per read timeout keeps a thread forever), a byte bound on a
// request's line and headers, closing idle keep-alive connections at once on drain, knowing the
// socket of the running request (a non-streaming handler polls it to notice a client that
// disconnected), and closing the connection after an error answered before the body was read.
// Draining never calls httplib's stop(), which would cut streaming responses mid-way: the
// listening socket is shut down, the accept loop ends, and the connection threads finish.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <numeric>
#include <optional>
#include <random>
#include <span>
#include <thread>

#include "genarm/core/math.hpp"
#include "genarm/generate/generator.hpp"
#include "genarm/generate/sequence_decoder.hpp"
#include "genarm/guidance/arm_reward.hpp"
#include "genarm/guidance/trajectory_reward.hpp"
#include "genarm/guidance/transformer_source.hpp"
#include "genarm/io/json.hpp"
#include "genarm/server/server.hpp"

namespace genarm::server {

namespace detail {

using Clock = std::chrono::steady_clock;

inline int to_ms(double seconds) { return static_cast<int>(std::clamp(seconds * 1000.0, 1.0, 3.6e6)); }

// One socket of a connection thread: buffered reads bounded per read, per request (deadline)
// and in bytes; writes bounded by the write timeout; liveness without consuming data.
// Thread-safety: not thread-safe (its connection thread's).
class Connection final : public httplib::Stream {
 public:
  Connection(int fd, int read_ms, int write_ms, size_t max_request_bytes)
      : fd_(fd), read_ms_(read_ms), write_ms_(write_ms), max_request_bytes_(max_request_bytes) {}

  bool is_readable() const override { return pos_ < len_ || poll_fd(POLLIN, read_ms_) > 0; }
  bool is_writable() const override { return alive() && poll_fd(POLLOUT, write_ms_) > 0; }

  ssize_t read(char* ptr, size_t size) override {
    if (pos_ < len_) {
      const size_t n = std::min(size, len_ - pos_);
      std::memcpy(ptr, buffer_ + pos_, n);
      pos_ += n;
      return static_cast<ssize_t>(n);
    }
    int wait = read_ms_;
    if (deadline_) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline_ - Clock::now()).count();
      if (left <= 0) return -1;
      wait = static_cast<int>(std::min<int64_t>(wait, left));
    }
    if (request_bytes_ >= max_request_bytes_) return -1;
    if (poll_fd(POLLIN, wait) <= 0) return -1;
    ssize_t n;
    if (size >= sizeof buffer_) {
      n = ::recv(fd_, ptr, size, 0);
      if (n > 0) request_bytes_ += static_cast<size_t>(n);
      return n;
    }
    n = ::recv(fd_, buffer_, sizeof buffer_, 0);
    if (n <= 0) return n;
    request_bytes_ += static_cast<size_t>(n);
    len_ = static_cast<size_t>(n);
    pos_ = std::min(size, len_);
    std::memcpy(ptr, buffer_, pos_);
    return static_cast<ssize_t>(pos_);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (poll_fd(POLLOUT, write_ms_) <= 0) return -1;
    return ::send(fd_, ptr, size, MSG_NOSIGNAL);  // SO_SNDTIMEO bounds a blocking send too
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override { address(true, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { address(false, ip, port); }
  socket_t socket() const override { return fd_; }

  // A new request starts: it must arrive within `timeout` seconds.
  void begin_request(double timeout) {
    deadline_ = Clock::now() + std::chrono::milliseconds(to_ms(timeout));
    request_bytes_ = 0;
  }

  // False once the peer closed or reset the connection (buffered or pending bytes: alive).
  bool alive() const {
    if (pos_ < len_) return true;
    pollfd p{fd_, static_cast<short>(POLLIN | POLLRDHUP), 0};
    const int r = ::poll(&p, 1, 0);
    if (r < 0) return errno == EINTR;
    if (r == 0) return true;
    if (p.revents & POLLIN) {
      char c;
      const ssize_t n = ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n > 0) return (p.revents & (POLLERR | POLLNVAL)) == 0;
      return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
    }
    return (p.revents & (POLLERR | POLLHUP | POLLRDHUP | POLLNVAL)) == 0;
  }

  enum class Wait { kRequest, kIdle, kClosed };
  // Waits for the first byte of the next request, up to `timeout_ms`, or until `wake_fd` is
  // readable (drain): then only a request already arriving is served.
  Wait wait_for_request(int timeout_ms, int wake_fd) const {
    if (pos_ < len_) return Wait::kRequest;
    pollfd p[2] = {{fd_, static_cast<short>(POLLIN | POLLRDHUP), 0}, {wake_fd, POLLIN, 0}};
    const auto end = Clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
      if (left <= 0) return Wait::kIdle;
      const int r = ::poll(p, wake_fd >= 0 ? 2 : 1, static_cast<int>(left));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return r == 0 ? Wait::kIdle : Wait::kClosed;
      if (p[0].revents & POLLIN) {
        char c;
        const ssize_t n = ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n > 0) return Wait::kRequest;
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) return Wait::kClosed;
        continue;
      }
      if (p[0].revents & (POLLERR | POLLHUP | POLLRDHUP | POLLNVAL)) return Wait::kClosed;
      if (p[1].revents & POLLIN) return Wait::kIdle;
    }
  }

 private:
  int poll_fd(short events, int timeout_ms) const {
    pollfd p{fd_, events, 0};
    for (;;) {
      const int r = ::poll(&p, 1, timeout_ms);
      if (r < 0 && errno == EINTR) continue;
      if (r > 0 && (p.revents & (POLLERR | POLLNVAL))) return -1;
      return r;
    }
  }
  void address(bool remote, std::string& ip, int& port) const {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    const int r = remote ? ::getpeername(fd_, reinterpret_cast<sockaddr*>(&a), &len)
                         : ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    ip.clear();
    port = 0;
    if (r != 0) return;
    char buf[INET6_ADDRSTRLEN] = {};
    if (a.ss_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(&a);
      ::inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
      port = ntohs(in->sin_port);
    } else if (a.ss_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&a);
      ::inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
      port = ntohs(in6->sin6_port);
    }
    ip = buf;
  }

  int fd_;
  int read_ms_, write_ms_;
  size_t max_request_bytes_;
  char buffer_[4096];
  size_t pos_ = 0, len_ = 0;  // unread bytes of buffer_
  size_t request_bytes_ = 0;
  std::optional<Clock::time_point> deadline_;
};

// What a connection thread's handlers, logger and loop share about the request being served.
struct RequestState {
  bool body_consumed = false;  // a route handler ran (the body was read)
  bool close_after = false;    // close the connection after this response
};
inline thread_local Connection* t_connection = nullptr;
inline thread_local RequestState t_request;
inline thread_local bool t_reject_connection = false;

inline void send_all_nonblocking(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

// Closes after the response has left: shut down our side, read what the client still sends
// for up to `linger_ms` (closing with unread bytes would reset the connection and could drop
// the response before the client reads it), then close.
inline void close_gracefully(int fd, int linger_ms) {
  ::shutdown(fd, SHUT_WR);
  const auto end = Clock::now() + std::chrono::milliseconds(linger_ms);
  char buf[4096];
  size_t total = 0;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
    if (left <= 0 || total > (size_t{1} << 20)) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0) break;
    total += static_cast<size_t>(n);
  }
  ::close(fd);
}

inline std::string http_response(int status, const char* reason, const std::string& body,
                                 const std::vector<std::string>& headers = {}) {
  std::string r = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
  for (const auto& h : headers) r += h + "\r\n";
  r += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
       "\r\nConnection: close\r\n\r\n" + body;
  return r;
}

// httplib's server with genarm's connection loop.
class Http final : public httplib::Server {
 public:
  struct Settings {
    int read_ms = 10000, write_ms = 10000, keep_alive_ms = 5000;
    double request_timeout = 30.0;
    size_t max_request_bytes = size_t{1} << 20;
    int wake_fd = -1;
    const std::atomic<bool>* draining = nullptr;
    size_t max_connections = 64;
  };
  explicit Http(Settings s) : settings_(s) {}

  // Stops the accept loop (listen_after_bind returns once the connections finish).
  void stop_accepting() {
    const socket_t s = svr_sock_.load();
    if (s != INVALID_SOCKET) ::shutdown(s, SHUT_RDWR);
  }
  // Closes the listening socket of a server that never ran.
  void close_listener() {
    const socket_t s = svr_sock_.exchange(INVALID_SOCKET);
    if (s != INVALID_SOCKET) ::close(s);
  }

 private:
  static constexpr size_t kMaxRequestsPerConnection = 1000;

  bool process_and_close_socket(socket_t sock) override {
    if (t_reject_connection) {
      reject(sock);
      return false;
    }
    Connection conn(sock, settings_.read_ms, settings_.write_ms, settings_.max_request_bytes);
    t_connection = &conn;
    for (size_t served = 0;; ++served) {
      if (conn.wait_for_request(settings_.keep_alive_ms, settings_.wake_fd) != Connection::Wait::kRequest) break;
      conn.begin_request(settings_.request_timeout);
      t_request = RequestState{};
      const bool draining = settings_.draining != nullptr && settings_.draining->load();
      const bool close = draining || served + 1 >= kMaxRequestsPerConnection;
      bool closed = false;
      const bool ok = process_request(conn, close, closed, nullptr);
      if (!ok || closed || close || t_request.close_after) break;
    }
    t_connection = nullptr;
    close_gracefully(sock, 200);
    return true;
  }

  // Every connection thread is busy: answer 429 on the accepting thread and close.
  void reject(socket_t sock) const {
    const std::string body =
        dump(error_body(429,
                        "Too many connections: the server's " + std::to_string(settings_.max_connections) +
                            " connection threads are busy. Retry later.",
                        "", "rate_limit_exceeded", "requests"));
    send_all_nonblocking(sock, http_response(429, "Too Many Requests", body, {"Retry-After: 1"}));
    close_gracefully(sock, 20);
  }

  Settings settings_;
};

// httplib's TaskQueue: a fixed set of connection threads. A connection that finds none idle is
// answered 429 at once (on the accepting thread) instead of waiting in a queue unseen.
class ConnectionPool final : public httplib::TaskQueue {
 public:
  explicit ConnectionPool(size_t n) : size_(n) {
    threads_.reserve(n);
    for (size_t i = 0; i < n; ++i) threads_.emplace_back([this] { loop(); });
  }
  ~ConnectionPool() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (busy_ + jobs_.size() < size_) {
        jobs_.push_back(std::move(fn));
        cv_.notify_one();
        return;
      }
    }
    t_reject_connection = true;
    fn();
    t_reject_connection = false;
  }

  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    threads_.clear();
  }

 private:
  void loop() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        fn = std::move(jobs_.front());
        jobs_.pop_front();
        ++busy_;
      }
      fn();
      std::lock_guard<std::mutex> lock(mutex_);
      --busy_;
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  size_t size_;
  size_t busy_ = 0;  // threads serving a connection
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

// What the engine (or the ARGS worker) hands a waiting connection thread.
struct Event {
  enum class Kind { kToken, kDone, kError } kind = Kind::kToken;
  int choice = 0;
  std::string piece;        // kToken: the text it completed (maybe empty)
  TokenLogprobs token;      // kToken with log-probs: its entry (text filled by the reader)
  GenerationResult result;  // kDone
  std::string message;      // kError
};

// The per-request queue between the engine thread and the request's connection thread.
// Thread-safety: thread-safe.
class Exchange {
 public:
  void push(Event e) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      events_.push_back(std::move(e));
    }
    cv_.notify_one();
  }
  // Moves the queued events into `out` (cleared first), waiting up to `timeout` for one.
  void take(std::deque<Event>& out, std::chrono::milliseconds timeout) {
    out.clear();
    std::unique_lock<std::mutex> lock(mutex_);
    if (events_.empty()) cv_.wait_for(lock, timeout, [&] { return !events_.empty(); });
    std::swap(out, events_);
  }
  std::atomic<bool> cancelled{false};

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Event> events_;
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size(), 0) {}
  void observe(double v) {
    for (size_t i = 0; i < bounds_.size(); ++i) {
      if (v <= bounds_[i]) ++counts_[i];
    }
    sum_ += v;
    ++count_;
  }
  void write(std::string& out, const std::string& name, const std::string& help) const {
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
    char buf[64];
    for (size_t i = 0; i < bounds_.size(); ++i) {
      std::snprintf(buf, sizeof buf, "%g", bounds_[i]);
      out += name + "_bucket{le=\"" + buf + "\"} " + std::to_string(counts_[i]) + "\n";
    }
    out += name + "_bucket{le=\"+Inf\"} " + std::to_string(count_) + "\n";
    std::snprintf(buf, sizeof buf, "%.9g", sum_);
    out += name + "_sum " + buf + "\n" + name + "_count " + std::to_string(count_) + "\n";
  }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;
  double sum_ = 0.0;
  uint64_t count_ = 0;
};

struct Metrics {
  mutable std::mutex mutex;
  std::map<std::pair<std::string, int>, uint64_t> responses;  // (endpoint, status)
  uint64_t prompt_tokens = 0;       // usage.prompt_tokens of finished requests
  uint64_t completion_tokens = 0;   // usage.completion_tokens
  uint64_t args_tokens = 0;         // sampled by the ARGS worker
  uint64_t cancelled = 0;           // requests whose client went away
  uint64_t next_token_requests = 0; // answered through the prefix cache (see Impl::run_next_token)
  uint64_t prefix_reused = 0;       // prompt tokens resumed from a cached state (every model's prompt)
  uint64_t prefix_computed = 0;     // prompt tokens run through a model for next-token requests
  double next_token_seconds = 0.0;  // engine-thread time of next-token requests
  Histogram ttft{{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}};
  Histogram duration{{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}};
};

inline std::string endpoint_label(const std::string& path) {
  for (const char* known : {"/v1/completions", "/v1/chat/completions", "/v1/models", "/health", "/metrics", "/tokenize"}) {
    if (path == known) return known;
  }
  if (path.rfind("/v1/models/", 0) == 0) return "/v1/models/{id}";
  return "other";
}

inline bool constant_time_equal(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

inline bool has_chat_template(const std::filesystem::path& dir) {
  if (std::filesystem::exists(dir / "chat_template.jinja") || std::filesystem::exists(dir / "chat_template.json")) {
    return true;
  }
  const auto config = dir / "tokenizer_config.json";
  if (!std::filesystem::exists(config)) return false;
  const nlohmann::json j = io::read_json_file(config);
  return j.is_object() && j.contains("chat_template") && !j["chat_template"].is_null();
}

}  // namespace detail

struct Server::Impl {
  struct Job;
  struct Stream;

  Impl(const ServerModels& models, ServerOptions opts);
  ~Impl();

  static GuidedModel load_model(const ServerModels& models);
  static std::vector<model::Transformer> load_rms(const ServerModels& models, const GuidedModel& base);
  void engine_loop();
  void args_loop();
  void notify_engine();
  void shutdown_workers();
  uint64_t next_seed();
  std::string next_id(const char* prefix);

  void route();
  void handle_generation(Endpoint endpoint, const httplib::Request& req, httplib::Response& res);
  bool authorized(const httplib::Request& req) const;
  static void reply(httplib::Response& res, int status, const Json& body);
  std::string metrics_text() const;

  // Next-token requests (max_tokens 1, one choice, not streamed: what a remote GenARM caller,
  // remote/remote_source.hpp, sends at every step) run on the engine thread between engine
  // steps, resuming from the prefix cache: per model (0 = the base, 1 + i = ARM i) the sequence
  // states of recent prompts (ServerOptions::prefix_cache of them, least recently used evicted);
  // a prompt takes the entry sharing its longest prefix, truncated to it, and runs only the rest
  // (a prompt one token longer than the last costs one token). Results equal a fresh computation
  // (the forward pass is chunking-invariant) and so the batch engine's.
  GenerationResult run_next_token(const ParsedRequest& r, size_t prompt);
  TransformerSource prefix_take(size_t model_index, std::span<const int32_t> prompt, uint64_t& reused,
                                uint64_t& computed);
  void prefix_put(size_t model_index, std::span<const int32_t> prompt, TransformerSource source);
  Json tokenize(const std::string& body) const;

  GenerationResult run_args(const Prompts& prompts, sampling::SamplerParams params, GenerationConfig config,
                            const ArgsParams& args, size_t rm,
                            const std::function<bool(const std::string&, const GenerationResult&)>& on_token);
  std::vector<TokenLogprobs> prompt_logprobs(const ParsedRequest& r, size_t prompt) const;

  ServerOptions options;
  GuidedModel model;
  std::vector<model::Transformer> rms;
  ServedModels served;
  ThreadPool pool;
  BatchGenerator engine;

  std::mutex engine_mutex;
  std::condition_variable engine_cv;
  uint64_t submissions = 0;
  bool engine_stop = false;
  std::thread engine_thread;

  std::mutex args_mutex;
  std::condition_variable args_cv;
  std::deque<std::function<void()>> args_jobs;
  bool args_stop = false;
  std::thread args_thread;
  std::atomic<size_t> args_waiting{0};

  struct PrefixEntry {
    std::vector<int32_t> tokens;  // what `source` has read
    TransformerSource source;
    uint64_t used = 0;            // prefix_clock when last used
  };
  std::mutex next_token_mutex;
  std::deque<std::function<void()>> next_token_jobs;  // run by the engine thread
  std::vector<std::vector<PrefixEntry>> prefix_cache;  // (1 + ARMs) engine thread only
  uint64_t prefix_clock = 0;

  int wake_fd = -1;
  std::atomic<bool> is_draining{false};
  std::atomic<size_t> in_flight{0};
  std::atomic<int> bound_port{-1};
  bool ran = false;
  std::unique_ptr<detail::Http> http;
  std::thread run_thread;

  detail::Metrics metrics;
  std::mutex seed_mutex;
  uint64_t seed_state = 0;
  std::atomic<uint64_t> id_counter{0};
  bool workers_stopped = false;
};

GENARM_SERVER_INLINE GuidedModel Server::Impl::load_model(const ServerModels& models) {
  std::vector<std::filesystem::path> dirs;
  for (const auto& a : models.arms) dirs.push_back(a.dir);
  return GuidedModel::load(models.base, dirs);
}

GENARM_SERVER_INLINE std::vector<model::Transformer> Server::Impl::load_rms(const ServerModels& models,
                                                                           const GuidedModel& base) {
  std::vector<model::Transformer> out;
  for (const auto& r : models.rms) {
    if (r.name.empty()) fail(ErrorCategory::kInvalidArgument, "a reward model needs a name (--rm NAME=DIR)");
    model::Transformer rm = model::Transformer::load(r.dir);
    if (!rm.is_reward_model()) {
      fail(ErrorCategory::kInvalidArgument, r.dir.string(), " is a ", rm.config().architecture,
           ", not a trajectory reward model (*ForSequenceClassification with num_labels 1)");
    }
    // The same ids mean the same tokens (tokens beyond the base's vocabulary are never sent).
    const tokenizer::Comparison c = base.tokenizer().compare(Tokenizer::from_file(r.dir), "the base", "the reward model");
    if (!c.compatible()) {
      fail(ErrorCategory::kInvalidArgument, "the tokenizer of reward model ", r.dir.string(),
           " differs from the base model's: ", c.difference, ": it must read the same token ids");
    }
    out.push_back(std::move(rm));
  }
  return out;
}

GENARM_SERVER_INLINE Server::Impl::Impl(const ServerModels& models, ServerOptions opts)
    : options(std::move(opts)),
      model(load_model(models)),
      rms(load_rms(models, model)),
      pool(options.threads),
      engine(model, BatchOptions{std::max<size_t>(options.batch_size, 1), options.max_step_tokens}, &pool,
             rms.empty() ? nullptr : &rms[0]),
      prefix_cache(1 + model.num_arms()) {
  if (options.batch_size < 1) fail(ErrorCategory::kInvalidArgument, "batch size must be >= 1");
  if (options.limits.max_concurrent < 1) fail(ErrorCategory::kInvalidArgument, "max concurrent requests must be >= 1");
  for (double t : {options.read_timeout, options.write_timeout, options.request_timeout, options.keep_alive_timeout}) {
    if (!(t > 0) || !std::isfinite(t)) fail(ErrorCategory::kInvalidArgument, "timeouts must be finite numbers > 0 seconds");
  }
  served.name = models.model_name.empty() ? std::filesystem::path(models.base).lexically_normal().filename().string()
                                          : models.model_name;
  if (served.name.empty()) served.name = "genarm";
  served.model = &model;
  served.batch_size = options.batch_size;
  served.created = static_cast<int64_t>(std::time(nullptr));
  for (const auto& a : models.arms) {
    if (a.name.empty()) fail(ErrorCategory::kInvalidArgument, "an ARM needs a name (--arm NAME=DIR)");
    if (detail::index_of(served.arm_names, a.name)) fail(ErrorCategory::kInvalidArgument, "ARM name '", a.name, "' is given twice");
    served.arm_names.push_back(a.name);
    served.arm_templates.push_back(detail::has_chat_template(a.dir)
                                       ? std::optional<chat::ChatTemplate>(chat::ChatTemplate::from_model_dir(a.dir))
                                       : std::nullopt);
  }
  for (const auto& r : models.rms) {
    if (detail::index_of(served.rm_names, r.name)) fail(ErrorCategory::kInvalidArgument, "reward model name '", r.name, "' is given twice");
    served.rm_names.push_back(r.name);
  }
  if (!models.chat_template.empty()) {
    served.chat_template = chat::ChatTemplate::from_file(models.chat_template, chat::SpecialTokens::from_model_dir(models.base));
  } else if (detail::has_chat_template(models.base)) {
    served.chat_template = chat::ChatTemplate::from_model_dir(models.base);
  } else {
    served.no_chat_template_reason =
        "The model '" + served.name +
        "' has no chat template (no chat_template.jinja and no \"chat_template\" in its tokenizer_config.json), so "
        "/v1/chat/completions cannot format messages: use /v1/completions, or start the server with --chat-template FILE.";
  }
  {
    std::random_device rd;
    seed_state = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ static_cast<uint64_t>(detail::Clock::now().time_since_epoch().count());
  }
  wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd < 0) fail(ErrorCategory::kIo, "eventfd: ", std::strerror(errno));

  detail::Http::Settings s;
  s.read_ms = detail::to_ms(options.read_timeout);
  s.write_ms = detail::to_ms(options.write_timeout);
  s.keep_alive_ms = detail::to_ms(options.keep_alive_timeout);
  s.request_timeout = options.request_timeout;
  s.max_request_bytes = options.limits.max_body_bytes + (size_t{64} << 10);  // body + line and headers
  s.wake_fd = wake_fd;
  s.draining = &is_draining;
  s.max_connections = options.max_connections > 0 ? options.max_connections : options.limits.max_concurrent + 16;
  http = std::make_unique<detail::Http>(s);
  const size_t connections = s.max_connections;
  http->new_task_queue = [connections] { return new detail::ConnectionPool(connections); };
  const auto secs = [](double t) { return static_cast<time_t>(t); };
  const auto usecs = [](double t) { return static_cast<time_t>((t - std::floor(t)) * 1e6); };
  http->set_read_timeout(secs(options.read_timeout), usecs(options.read_timeout));
  http->set_write_timeout(secs(options.write_timeout), usecs(options.write_timeout));
  http->set_keep_alive_timeout(secs(std::max(1.0, options.keep_alive_timeout)));
  http->set_payload_max_length(options.limits.max_body_bytes);
  http->set_tcp_nodelay(true);
  route();

  engine_thread = std::thread([this] { engine_loop(); });
  args_thread = std::thread([this] { args_loop(); });
}

GENARM_SERVER_INLINE Server::Impl::~Impl() {
  shutdown_workers();
  if (http && !ran) http->close_listener();
  if (wake_fd >= 0) ::close(wake_fd);
}

GENARM_SERVER_INLINE void Server::Impl::shutdown_workers() {
  if (workers_stopped) return;
  workers_stopped = true;
  {
    std::lock_guard<std::mutex> lock(engine_mutex);
    engine_stop = true;
  }
  engine_cv.notify_all();
  {
    std::lock_guard<std::mutex> lock(args_mutex);
    args_stop = true;
  }
  args_cv.notify_all();
  if (engine_thread.joinable()) engine_thread.join();
  if (args_thread.joinable()) args_thread.join();
}

GENARM_SERVER_INLINE void Server::Impl::notify_engine() {
  {
    std::lock_guard<std::mutex> lock(engine_mutex);
    ++submissions;
  }
  engine_cv.notify_one();
}

// The engine thread: steps while there is work, sleeps until the next submission or cancel.
GENARM_SERVER_INLINE void Server::Impl::engine_loop() {
  for (;;) {
    uint64_t seen;
    {
      std::lock_guard<std::mutex> lock(engine_mutex);
      if (engine_stop) return;
      seen = submissions;
    }
    std::deque<std::function<void()>> next_tokens;
    {
      std::lock_guard<std::mutex> lock(next_token_mutex);
      std::swap(next_tokens, next_token_jobs);
    }
    for (auto& job : next_tokens) job();  // each reports its own result or error
    bool busy = !next_tokens.empty();
    try {
      busy = engine.step() || busy;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "genarm serve: engine step failed: %s\n", e.what());
    }
    if (!busy) {
      std::unique_lock<std::mutex> lock(engine_mutex);
      engine_cv.wait(lock, [&] { return engine_stop || submissions != seen; });
    }
  }
}

// The ARGS worker: one ARGS request at a time, for reward models other than the engine's.
GENARM_SERVER_INLINE void Server::Impl::args_loop() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(args_mutex);
      args_cv.wait(lock, [&] { return args_stop || !args_jobs.empty(); });
      if (args_stop) return;
      job = std::move(args_jobs.front());
      args_jobs.pop_front();
      args_waiting = args_jobs.size();
    }
    job();
  }
}

GENARM_SERVER_INLINE uint64_t Server::Impl::next_seed() {
  std::lock_guard<std::mutex> lock(seed_mutex);
  uint64_t z = (seed_state += 0x9E3779B97F4A7C15ull);  // splitmix64
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

GENARM_SERVER_INLINE std::string Server::Impl::next_id(const char* prefix) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s%016llx%06llx", prefix, static_cast<unsigned long long>(next_seed()),
                static_cast<unsigned long long>(++id_counter & 0xFFFFFF));
  return buf;
}

GENARM_SERVER_INLINE GenerationResult Server::Impl::run_args(
    const Prompts& prompts, sampling::SamplerParams params, GenerationConfig config, const ArgsParams& args, size_t rm,
    const std::function<bool(const std::string&, const GenerationResult&)>& on_token) {
  // The loop of generate() (SequenceDecoder), with a per-token callback.
  if (config.eos_token_ids.empty() && !config.ignore_eos) config.eos_token_ids = model.eos_token_ids();
  config.validate();
  ArgsPolicy<TransformerSource> policy(TransformerSource(model.base()), rms[rm], model.vocab_size(), args);
  sampling::Sampler sampler(params, model.vocab_size());
  policy.start(prompts.base, prompts.guides);
  SequenceDecoder decoder(model.tokenizer(), sampler, config);
  decoder.begin(policy, prompts);
  for (;;) {
    const std::string& piece = decoder.sample(policy);
    const bool shown = on_token(piece, decoder.result());
    if (!decoder.proceed(policy, shown)) break;
    policy.advance(decoder.token());
  }
  decoder.finish([](std::string_view) {});
  {
    std::lock_guard<std::mutex> lock(metrics.mutex);
    metrics.args_tokens += decoder.result().ids.size();
  }
  return std::move(decoder.result());
}

GENARM_SERVER_INLINE TransformerSource Server::Impl::prefix_take(size_t m, std::span<const int32_t> prompt,
                                                                 uint64_t& reused, uint64_t& computed) {
  auto& entries = prefix_cache[m];
  size_t best = entries.size(), best_length = 0;
  for (size_t e = 0; e < entries.size(); ++e) {
    const auto& t = entries[e].tokens;
    const size_t n = std::min(t.size(), prompt.size() - 1);  // at least one token runs (for its logits)
    size_t k = 0;
    while (k < n && t[k] == prompt[k]) ++k;
    if (k > best_length) {
      best_length = k;
      best = e;
    }
  }
  if (best < entries.size()) {
    TransformerSource source = std::move(entries[best].source);
    entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(best));
    source.truncate(static_cast<int64_t>(best_length));
    source.prefill(prompt.subspan(best_length));
    reused += best_length;
    computed += prompt.size() - best_length;
    return source;
  }
  TransformerSource source(m == 0 ? model.base() : model.arms()[m - 1]);
  source.set_thread_pool(&pool);
  source.prefill(prompt);
  computed += prompt.size();
  return source;
}

GENARM_SERVER_INLINE void Server::Impl::prefix_put(size_t m, std::span<const int32_t> prompt,
                                                   TransformerSource source) {
  auto& entries = prefix_cache[m];
  entries.push_back(PrefixEntry{std::vector<int32_t>(prompt.begin(), prompt.end()), std::move(source), ++prefix_clock});
  if (entries.size() > options.prefix_cache) {
    const auto oldest = std::min_element(entries.begin(), entries.end(),
                                         [](const PrefixEntry& a, const PrefixEntry& b) { return a.used < b.used; });
    entries.erase(oldest);
  }
}

GENARM_SERVER_INLINE GenerationResult Server::Impl::run_next_token(const ParsedRequest& r, size_t p) {
  const auto t0 = detail::Clock::now();
  const Prompts& prompts = r.prompts[p].tokens;
  GenerationConfig config = r.config;
  if (config.eos_token_ids.empty() && !config.ignore_eos) config.eos_token_ids = model.eos_token_ids();
  config.validate();
  const auto prompt_of = [&](size_t guide) -> std::span<const int32_t> {
    return prompts.guides.empty() ? std::span<const int32_t>(prompts.base) : std::span<const int32_t>(prompts.guides[guide]);
  };
  uint64_t reused = 0, computed = 0;
  TransformerSource base = prefix_take(0, prompts.base, reused, computed);
  std::vector<TransformerSource> guides;
  guides.reserve(r.arms.size());
  for (size_t i = 0; i < r.arms.size(); ++i) guides.push_back(prefix_take(1 + r.arms[i], prompt_of(i), reused, computed));
  GuidedPolicy<TransformerSource> policy(std::move(base), std::move(guides), model.vocab_size(), r.guidance);
  // The decoding loop (SequenceDecoder, as the batch engine runs it) for its one token, through
  // generate_started(), which genarm::compiled holds compiled once: the combination's inline
  // arithmetic is then the library's own, whatever flags this file is compiled with.
  sampling::Sampler sampler(r.sampler, model.vocab_size());
  config.max_new_tokens = 1;
  GenerationResult result = generate_started(policy, sampler, model.tokenizer(), prompts, config);
  // The states hold exactly the prompts (the sampled token is not run): cache them.
  prefix_put(0, prompts.base, std::move(policy.base()));
  for (size_t i = 0; i < r.arms.size(); ++i) prefix_put(1 + r.arms[i], prompt_of(i), std::move(policy.guide(i)));
  {
    std::lock_guard<std::mutex> lock(metrics.mutex);
    ++metrics.next_token_requests;
    metrics.prefix_reused += reused;
    metrics.prefix_computed += computed;
    metrics.next_token_seconds += std::chrono::duration<double>(detail::Clock::now() - t0).count();
  }
  return result;
}

// POST /tokenize, as vLLM's: {"model"?, "prompt", "add_special_tokens"? (default true)} ->
// {"count", "max_model_len", "tokens"} ("content" is accepted for "prompt", as llama.cpp names it).
GENARM_SERVER_INLINE Json Server::Impl::tokenize(const std::string& body) const {
  Json j;
  try {
    j = Json::parse(body);
  } catch (const nlohmann::json::exception& e) {
    throw ApiError(400, std::string("We could not parse the JSON body of your request: ") + e.what(), "", "invalid_json");
  }
  if (!j.is_object()) detail::invalid_type("body", "a JSON object", j);
  detail::Fields f(j, "");
  if (const auto m = f.string("model"); m && *m != served.name) {
    throw ApiError(404, "The model '" + *m + "' does not exist (this server serves '" + served.name + "').", "model",
                   "model_not_found");
  }
  std::optional<std::string> text = f.string("prompt");
  if (!text) text = f.string("content");
  if (!text) throw ApiError(400, "Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter");
  const bool special = f.boolean("add_special_tokens").value_or(true);
  f.reject_unknown();
  Json out = Json::object();
  const std::vector<int32_t> ids = model.tokenizer().encode(*text, special);
  out["count"] = ids.size();
  out["max_model_len"] = served.context();
  out["tokens"] = ids;
  return out;
}

// Log-probs of the prompt's tokens under the request's guided distribution (echo + logprobs):
// the first token has none.
GENARM_SERVER_INLINE std::vector<TokenLogprobs> Server::Impl::prompt_logprobs(const ParsedRequest& r,
                                                                             size_t prompt) const {
  const std::vector<int32_t>& tokens = r.prompts[prompt].tokens.base;
  const size_t vocab = model.vocab_size();
  const Tokenizer& tok = model.tokenizer();
  std::vector<TokenLogprobs> out;
  out.reserve(tokens.size());
  const auto rows_of = [&](const model::Transformer& m, model::RowMatrix& rows) {
    TransformerSource src(m);
    src.prefill_all(std::span<const int32_t>(tokens).first(tokens.size() - 1), rows);
  };
  model::RowMatrix base_rows;
  std::vector<model::RowMatrix> arm_rows(r.arms.size());
  if (tokens.size() > 1) {
    rows_of(model.base(), base_rows);
    for (size_t i = 0; i < r.arms.size(); ++i) rows_of(model.arms()[r.arms[i]], arm_rows[i]);
  }
  std::vector<float> z(vocab);
  std::vector<int32_t> order(vocab);
  const int top = std::max(r.logprobs, 0);
  for (size_t t = 0; t < tokens.size(); ++t) {
    TokenLogprobs e;
    e.id = tokens[t];
    e.previous = t > 0 ? tokens[t - 1] : -1;
    e.text = token_text(tok, e.previous, e.id);
    if (t > 0) {
      const auto log_softmax_into = [&](const model::RowMatrix& rows, float coefficient, bool first) {
        const float* row = rows.row(static_cast<Eigen::Index>(t - 1)).data();
        const double lse = log_sum_exp(std::span<const float>(row, vocab));
        for (size_t v = 0; v < vocab; ++v) {
          const float lp = static_cast<float>(row[v] - lse);
          z[v] = first ? lp : z[v] + coefficient * lp;
        }
      };
      log_softmax_into(base_rows, 1.0f, true);
      for (size_t i = 0; i < r.arms.size(); ++i) log_softmax_into(arm_rows[i], r.guidance.coefficient(i), false);
      const double norm = log_sum_exp(std::span<const float>(z));
      e.logprob = static_cast<float>(z[static_cast<size_t>(e.id)] - norm);
      std::iota(order.begin(), order.end(), 0);
      const auto k = static_cast<std::ptrdiff_t>(std::min<size_t>(static_cast<size_t>(top), vocab));
      std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int32_t a, int32_t b) {
        return z[static_cast<size_t>(a)] > z[static_cast<size_t>(b)] || (z[static_cast<size_t>(a)] == z[static_cast<size_t>(b)] && a < b);
      });
      for (std::ptrdiff_t i = 0; i < k; ++i) {
        const int32_t id = order[static_cast<size_t>(i)];
        e.top.push_back({id, static_cast<float>(z[static_cast<size_t>(id)] - norm)});
      }
    }
    out.push_back(std::move(e));
  }
  return out;
}

// One generation request from submission to its last result; owned by its connection thread (or
// its stream). Destroying an unfinished job cancels what is left of it.
struct Server::Impl::Job {
  Job(Impl& s, ParsedRequest r) : server(s), req(std::move(r)) {
    start = detail::Clock::now();
    created = static_cast<int64_t>(std::time(nullptr));
    id = server.next_id(req.endpoint == Endpoint::kChat ? "chatcmpl-" : "cmpl-");
    per_prompt = req.method == Method::kBestOfN ? req.candidates : req.n;
    results.resize(req.prompts.size() * static_cast<size_t>(per_prompt));
    done.assign(results.size(), false);
  }
  ~Job() {
    if (!finished) {
      exchange->cancelled = true;
      for (uint64_t e : engine_ids) server.engine.cancel(e);
      server.notify_engine();
      if (error.empty()) {
        std::lock_guard<std::mutex> lock(server.metrics.mutex);
        ++server.metrics.cancelled;
      }
    }
    {
      std::lock_guard<std::mutex> lock(server.metrics.mutex);
      server.metrics.duration.observe(std::chrono::duration<double>(detail::Clock::now() - start).count());
      if (finished && error.empty()) {
        server.metrics.prompt_tokens += prompt_tokens();
        server.metrics.completion_tokens += completion_tokens;
      }
    }
    server.in_flight.fetch_sub(1);
  }

  uint64_t prompt_tokens() const {
    uint64_t n = 0;
    for (const auto& p : req.prompts) n += p.tokens.base.size();
    return n;
  }

  BatchRequest batch(size_t prompt, int choice, int samples, uint64_t seed_offset) {
    BatchRequest b;
    b.prompts = req.prompts[prompt].tokens;
    b.arms = req.arms;
    b.guidance = req.guidance;
    b.sampler = req.sampler;
    b.sampler.seed += seed_offset;
    b.config = req.config;
    b.samples = samples;
    auto ex = exchange;
    if (req.stream && req.method != Method::kBestOfN) {
      const int top = req.logprobs;
      const Method method = req.method;
      const int32_t last_prompt_token = b.prompts.base.back();
      b.on_token = [ex, choice, top, method, last_prompt_token](std::string_view piece, const GenerationResult& so_far) {
        if (ex->cancelled.load(std::memory_order_relaxed)) return false;
        detail::Event e;
        e.choice = choice;
        e.piece.assign(piece);
        if (top >= 0) {
          const size_t t = so_far.ids.size() - 1;
          e.token = token_logprobs(so_far, t, t > 0 ? so_far.ids[t - 1] : last_prompt_token, method, top);
        }
        ex->push(std::move(e));
        return true;
      };
    } else {
      b.on_token = [ex](std::string_view, const GenerationResult&) { return !ex->cancelled.load(std::memory_order_relaxed); };
    }
    b.on_done = [ex, choice](uint64_t, int sample, GenerationResult r) {
      detail::Event e;
      e.kind = detail::Event::Kind::kDone;
      e.choice = choice + sample;
      e.result = std::move(r);
      ex->push(std::move(e));
    };
    b.on_error = [ex](uint64_t, const std::string& message) {
      detail::Event e;
      e.kind = detail::Event::Kind::kError;
      e.message = message;
      ex->push(std::move(e));
    };
    return b;
  }

  // A next-token request: runs on the engine thread through the prefix cache (run_next_token).
  bool next_token_request() const {
    return server.options.prefix_cache > 0 && req.method == Method::kGenArm && req.max_tokens == 1 && per_prompt == 1 &&
           !req.stream && !req.echo;
  }

  void submit_next_token() {
    auto shared = std::make_shared<const ParsedRequest>(req);
    auto ex = exchange;
    Impl* s = &server;
    {
      std::lock_guard<std::mutex> lock(server.next_token_mutex);
      for (size_t p = 0; p < req.prompts.size(); ++p) {
        server.next_token_jobs.push_back([shared, ex, s, p] {
          detail::Event e;
          e.kind = detail::Event::Kind::kDone;
          e.choice = static_cast<int>(p);
          if (ex->cancelled.load()) {
            e.result.stop_reason = StopReason::kCallback;
          } else {
            try {
              e.result = s->run_next_token(*shared, p);
            } catch (const std::exception& x) {
              e.kind = detail::Event::Kind::kError;
              e.message = x.what();
            }
          }
          ex->push(std::move(e));
        });
      }
    }
    server.notify_engine();
  }

  void submit() {
    if (req.max_tokens > 0 && next_token_request()) {
      submit_next_token();
      return;
    }
    if (req.max_tokens == 0) {  // completions echo-only: nothing to generate
      for (size_t i = 0; i < results.size(); ++i) {
        results[i].stop_reason = StopReason::kLength;
        results[i].prompt_tokens = req.prompts[i / static_cast<size_t>(per_prompt)].tokens.base.size();
        done[i] = true;
      }
      done_count = results.size();
      finished = true;
      return;
    }
    try {
      for (size_t p = 0; p < req.prompts.size(); ++p) {
        const int base = static_cast<int>(p) * per_prompt;
        if (req.method == Method::kArgs && req.args_rm != 0) {
          submit_args(p, base);  // another RM than the engine's: the ARGS worker
        } else if (req.method == Method::kArgs) {
          // The engine's RM: batched with everything else, one request per choice (seed + i).
          for (int s = 0; s < per_prompt; ++s) {
            BatchRequest b = batch(p, base + s, 1, static_cast<uint64_t>(s));
            b.args = req.args;
            engine_ids.push_back(server.engine.submit(std::move(b)));
          }
        } else if (req.stream && per_prompt > 1 && req.method != Method::kBestOfN) {
          // Streamed choices are told apart by request: one per choice, seed + i each (the same
          // tokens as samples of one request, which use seed + i too).
          for (int s = 0; s < per_prompt; ++s) {
            engine_ids.push_back(server.engine.submit(batch(p, base + s, 1, static_cast<uint64_t>(s))));
          }
        } else {
          engine_ids.push_back(server.engine.submit(batch(p, base, per_prompt, 0)));
        }
      }
    } catch (const Error& e) {
      server.notify_engine();
      throw ApiError(400, e.what(), "", "invalid_value");
    }
    server.notify_engine();
  }

  void submit_args(size_t prompt, int base) {
    auto ex = exchange;
    Impl* s = &server;
    const Prompts prompts = req.prompts[prompt].tokens;
    const sampling::SamplerParams params = req.sampler;
    const GenerationConfig config = req.config;
    const ArgsParams args = req.args;
    const size_t rm = req.args_rm;
    const int samples = per_prompt;
    const bool stream = req.stream;
    const int top = req.logprobs;
    std::lock_guard<std::mutex> lock(server.args_mutex);
    server.args_jobs.push_back([=] {
      for (int i = 0; i < samples; ++i) {
        detail::Event done_event;
        done_event.kind = detail::Event::Kind::kDone;
        done_event.choice = base + i;
        if (ex->cancelled) {
          done_event.result.stop_reason = StopReason::kCallback;
          ex->push(std::move(done_event));
          continue;
        }
        sampling::SamplerParams p = params;
        p.seed += static_cast<uint64_t>(i);
        try {
          const int32_t last_prompt_token = prompts.base.back();
          done_event.result = s->run_args(prompts, p, config, args, rm, [&](const std::string& piece, const GenerationResult& so_far) {
            if (ex->cancelled.load(std::memory_order_relaxed)) return false;
            if (stream) {
              detail::Event e;
              e.choice = base + i;
              e.piece = piece;
              if (top >= 0) {
                const size_t t = so_far.ids.size() - 1;
                e.token = token_logprobs(so_far, t, t > 0 ? so_far.ids[t - 1] : last_prompt_token, Method::kArgs, top);
              }
              ex->push(std::move(e));
            }
            return true;
          });
          ex->push(std::move(done_event));
        } catch (const std::exception& e) {
          detail::Event err;
          err.kind = detail::Event::Kind::kError;
          err.message = e.what();
          ex->push(std::move(err));
          return;
        }
      }
    });
    server.args_waiting = server.args_jobs.size();
    server.args_cv.notify_one();
  }

  // Takes a finished sample; false for an error (then `error` says what).
  bool consume(detail::Event& e) {
    if (e.kind == detail::Event::Kind::kError) {
      error = e.message;
      return false;
    }
    if (e.kind == detail::Event::Kind::kDone) {
      const auto c = static_cast<size_t>(e.choice);
      if (c < results.size() && !done[c]) {
        done[c] = true;
        ++done_count;
        results[c] = std::move(e.result);
      }
    }
    return true;
  }
  bool complete() const { return done_count == results.size(); }

  void first_token() {
    if (saw_first_token) return;
    saw_first_token = true;
    std::lock_guard<std::mutex> lock(server.metrics.mutex);
    server.metrics.ttft.observe(std::chrono::duration<double>(detail::Clock::now() - start).count());
  }

  // Non-streaming: waits for every result, watching the client. False if it disconnected.
  bool wait() {
    std::deque<detail::Event> events;
    while (!complete()) {
      exchange->take(events, std::chrono::milliseconds(50));
      for (auto& e : events) {
        if (!consume(e)) return true;
      }
      if (!complete() && detail::t_connection != nullptr && !detail::t_connection->alive()) return false;
    }
    finished = true;
    return true;
  }

  // The choices of prompt `p` in response order: the first n samples, or for best-of-N the n
  // best candidates by reward (ties: the earlier one), with their rewards.
  std::vector<std::pair<size_t, std::optional<double>>> ranked(size_t p) const {
    std::vector<std::pair<size_t, std::optional<double>>> out;
    const size_t first = p * static_cast<size_t>(per_prompt);
    if (req.method != Method::kBestOfN) {
      for (int i = 0; i < req.n; ++i) out.emplace_back(first + static_cast<size_t>(i), std::nullopt);
      return out;
    }
    const Prompts& prompt = req.prompts[p].tokens;
    std::vector<double> rewards(static_cast<size_t>(per_prompt), 0.0);
    switch (req.reward.kind) {
      case RewardSpec::Kind::kRm: {
        TrajectoryReward rm(server.rms[req.reward.index]);
        for (size_t c = 0; c < rewards.size(); ++c) rewards[c] = rm(prompt.base, results[first + c].ids);
        break;
      }
      case RewardSpec::Kind::kArm: {
        TransformerSource arm(server.model.arms()[req.reward.index]);
        const std::vector<int32_t>* arm_prompt = &prompt.base;
        const auto it = std::find(req.arms.begin(), req.arms.end(), req.reward.index);
        if (it != req.arms.end() && !prompt.guides.empty()) arm_prompt = &prompt.guides[static_cast<size_t>(it - req.arms.begin())];
        for (size_t c = 0; c < rewards.size(); ++c) {
          const auto& ids = results[first + c].ids;
          rewards[c] = ids.empty() ? 0.0 : arm_score(arm, *arm_prompt, ids, server.model.vocab_size()).reward;
        }
        break;
      }
      case RewardSpec::Kind::kLogprob: {
        for (size_t c = 0; c < rewards.size(); ++c) {
          const auto& d = results[first + c].details;
          double sum = 0.0;
          for (const auto& t : d) sum += t.logprob_guided;
          rewards[c] = d.empty() ? 0.0 : sum / static_cast<double>(d.size());
        }
        break;
      }
    }
    std::vector<size_t> order(rewards.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return rewards[a] > rewards[b]; });
    for (int i = 0; i < req.n; ++i) out.emplace_back(first + order[static_cast<size_t>(i)], rewards[order[static_cast<size_t>(i)]]);
    return out;
  }

  int32_t last_prompt_token(size_t p) const { return req.prompts[p].tokens.base.back(); }

  Json choice_json(size_t p, int index, const GenerationResult& r, const std::optional<double>& reward) {
    const Tokenizer& tok = server.model.tokenizer();
    Json c = Json::object();
    c["index"] = index;
    if (req.endpoint == Endpoint::kChat) {
      Json message = Json::object();
      message["role"] = "assistant";
      message["content"] = r.text;
      message["refusal"] = nullptr;
      c["message"] = std::move(message);
      c["logprobs"] = req.logprobs >= 0 ? chat_logprobs(tok, result_logprobs(tok, r, last_prompt_token(p), req.method, req.logprobs), req.tokens_as_ids)
                                        : Json(nullptr);
    } else {
      c["text"] = (req.echo ? req.prompts[p].text : std::string()) + r.text;
      if (req.logprobs >= 0) {
        std::vector<TokenLogprobs> entries;
        if (req.echo) {
          if (echo_entries.size() <= p) echo_entries.resize(p + 1);
          if (echo_entries[p].empty()) echo_entries[p] = server.prompt_logprobs(req, p);
          entries = echo_entries[p];
        }
        auto generated = result_logprobs(tok, r, last_prompt_token(p), req.method, req.logprobs);
        entries.insert(entries.end(), std::make_move_iterator(generated.begin()), std::make_move_iterator(generated.end()));
        c["logprobs"] = completion_logprobs(tok, entries, 0, req.tokens_as_ids);
      } else {
        c["logprobs"] = nullptr;
      }
    }
    c["finish_reason"] = finish_reason(r.stop_reason);
    if (reward) c["reward"] = *reward;
    if (req.return_token_ids) {  // vLLM's field names
      c["prompt_token_ids"] = req.prompts[p].tokens.base;
      c["token_ids"] = r.ids;
    }
    return c;
  }

  Json response() {
    Json choices = Json::array();
    for (size_t p = 0; p < req.prompts.size(); ++p) {
      int i = 0;
      for (const auto& [index, reward] : ranked(p)) {
        completion_tokens += results[index].ids.size();
        choices.push_back(choice_json(p, static_cast<int>(p) * req.n + i++, results[index], reward));
      }
    }
    const Json usage = usage_json(prompt_tokens(), completion_tokens);
    return req.endpoint == Endpoint::kChat ? chat_object(id, created, req.model, std::move(choices), usage)
                                           : completion_object(id, created, req.model, std::move(choices), usage);
  }

  Impl& server;
  ParsedRequest req;
  std::shared_ptr<detail::Exchange> exchange = std::make_shared<detail::Exchange>();
  std::vector<uint64_t> engine_ids;
  std::string id;
  int64_t created = 0;
  detail::Clock::time_point start;
  int per_prompt = 1;
  std::vector<GenerationResult> results;  // (prompts x per_prompt)
  std::vector<bool> done;
  size_t done_count = 0;
  uint64_t completion_tokens = 0;
  std::string error;
  bool finished = false;
  bool saw_first_token = false;
  std::vector<std::vector<TokenLogprobs>> echo_entries;  // per prompt (echo + logprobs), computed once
};

// A streamed response: server-sent events written as the job's events arrive.
struct Server::Impl::Stream {
  explicit Stream(std::shared_ptr<Job> j) : job(std::move(j)) {
    streamed.assign(job->results.size(), 0);
    ended.assign(job->results.size(), false);
  }

  bool send(httplib::DataSink& sink, const Json& j) {
    const std::string s = "data: " + dump(j) + "\n\n";
    return sink.write(s.data(), s.size());
  }
  bool finish(httplib::DataSink& sink) {
    static const std::string kDone = "data: [DONE]\n\n";
    if (!sink.write(kDone.data(), kDone.size())) return false;
    sink.done();
    return true;
  }

  const ParsedRequest& req() const { return job->req; }
  bool chat() const { return req().endpoint == Endpoint::kChat; }
  // Choice index in the response of result slot `slot` (not best-of-N: the same order).
  int choice_of(size_t slot) const { return static_cast<int>(slot); }

  Json text_chunk(int index, const std::string& text, const Json& logprobs) const {
    if (chat()) {
      Json delta = Json::object();
      delta["content"] = text;
      return chat_chunk(job->id, job->created, req().model, index, delta, logprobs, nullptr, req().include_usage);
    }
    return completion_chunk(job->id, job->created, req().model, index, text, logprobs, nullptr);
  }
  Json final_chunk(int index, StopReason reason) const {
    if (chat()) {
      return chat_chunk(job->id, job->created, req().model, index, Json::object(), nullptr, finish_reason(reason),
                        req().include_usage);
    }
    return completion_chunk(job->id, job->created, req().model, index, "", nullptr, finish_reason(reason));
  }

  bool open(httplib::DataSink& sink) {
    const size_t choices = req().prompts.size() * static_cast<size_t>(req().n);
    for (size_t c = 0; c < choices; ++c) {
      const size_t p = c / static_cast<size_t>(req().n);
      if (chat()) {
        Json delta = Json::object();
        delta["role"] = "assistant";
        delta["content"] = "";
        if (!send(sink, chat_chunk(job->id, job->created, req().model, static_cast<int>(c), delta, nullptr, nullptr,
                                   req().include_usage))) {
          return false;
        }
      } else if (req().echo && req().method != Method::kBestOfN) {
        Json logprobs = nullptr;
        if (req().logprobs >= 0) {
          if (prompt_logprobs.size() <= p) prompt_logprobs.resize(p + 1);
          if (prompt_logprobs[p].is_null()) {
            prompt_logprobs[p] = completion_logprobs(job->server.model.tokenizer(), job->server.prompt_logprobs(req(), p), 0,
                                                      req().tokens_as_ids);
          }
          logprobs = prompt_logprobs[p];
        }
        if (!send(sink, completion_chunk(job->id, job->created, req().model, static_cast<int>(c), req().prompts[p].text,
                                         logprobs, nullptr))) {
          return false;
        }
      }
    }
    return true;
  }

  bool on_token(httplib::DataSink& sink, detail::Event& e) {
    job->first_token();
    const auto slot = static_cast<size_t>(e.choice);
    if (e.piece.empty() && req().logprobs < 0) return true;
    Json logprobs = nullptr;
    if (req().logprobs >= 0) {
      const Tokenizer& tok = job->server.model.tokenizer();
      e.token.text = token_text(tok, e.token.previous, e.token.id);
      const std::vector<TokenLogprobs> one{e.token};
      const size_t offset = (req().echo ? req().prompts[slot / static_cast<size_t>(job->per_prompt)].text.size() : 0) + streamed[slot];
      logprobs = chat() ? chat_logprobs(tok, one, req().tokens_as_ids)
                        : completion_logprobs(tok, one, offset, req().tokens_as_ids);
    }
    streamed[slot] += e.piece.size();
    return send(sink, text_chunk(choice_of(slot), e.piece, logprobs));
  }

  bool on_done(httplib::DataSink& sink, size_t slot) {
    const GenerationResult& r = job->results[slot];
    if (req().method == Method::kBestOfN) {
      const size_t p = slot / static_cast<size_t>(job->per_prompt);
      const size_t first = p * static_cast<size_t>(job->per_prompt);
      for (size_t c = first; c < first + static_cast<size_t>(job->per_prompt); ++c) {
        if (!job->done[c]) return true;  // the prompt's other candidates are still running
      }
      if (ended[first]) return true;
      ended[first] = true;
      int i = 0;
      for (const auto& [index, reward] : job->ranked(p)) {
        const int choice = static_cast<int>(p) * req().n + i++;
        Json c = job->choice_json(p, choice, job->results[index], reward);
        job->completion_tokens += job->results[index].ids.size();
        Json logprobs = c["logprobs"];
        const std::string text = chat() ? c["message"]["content"].get<std::string>() : c["text"].get<std::string>();
        if (!send(sink, text_chunk(choice, text, logprobs))) return false;
        Json last = final_chunk(choice, job->results[index].stop_reason);
        last["choices"][0]["reward"] = *reward;
        if (!send(sink, last)) return false;
      }
      return true;
    }
    if (ended[slot]) return true;
    ended[slot] = true;
    job->completion_tokens += r.ids.size();
    if (r.text.size() > streamed[slot]) {
      if (!send(sink, text_chunk(choice_of(slot), r.text.substr(streamed[slot]), nullptr))) return false;
      streamed[slot] = r.text.size();
    }
    return send(sink, final_chunk(choice_of(slot), r.stop_reason));
  }

  // httplib's content provider: called until sink.done(); false ends the response (the client
  // is gone or the write failed), which destroys the job and so cancels the rest of it.
  bool pump(httplib::DataSink& sink) {
    if (!opened) {
      opened = true;
      if (!open(sink)) return false;
      // A job with nothing to generate (max_tokens 0) is complete already.
      for (size_t s = 0; s < job->results.size() && job->complete(); ++s) {
        if (!on_done(sink, s)) return false;
      }
    }
    if (!job->complete()) {
      job->exchange->take(events, std::chrono::milliseconds(50));
      for (auto& e : events) {
        if (e.kind == detail::Event::Kind::kToken) {
          if (!on_token(sink, e)) return false;
          continue;
        }
        const size_t slot = static_cast<size_t>(e.choice);
        if (!job->consume(e)) {
          const Json error = ApiError(500, "generation failed: " + job->error, "", "generation_error", "server_error").body();
          if (!send(sink, error)) return false;
          return finish(sink);
        }
        if (!on_done(sink, slot)) return false;
      }
    }
    if (job->complete()) {
      job->finished = true;
      if (req().include_usage &&
          !send(sink, usage_chunk(req().endpoint, job->id, job->created, req().model, job->prompt_tokens(),
                                  job->completion_tokens))) {
        return false;
      }
      return finish(sink);
    }
    return sink.is_writable();
  }

  std::shared_ptr<Job> job;
  std::deque<detail::Event> events;
  std::vector<size_t> streamed;  // bytes of text sent per slot
  std::vector<bool> ended;
  std::vector<Json> prompt_logprobs;  // echo: per prompt, computed once for all its choices
  bool opened = false;
};

GENARM_SERVER_INLINE void Server::Impl::reply(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(dump(body), "application/json");
}

GENARM_SERVER_INLINE bool Server::Impl::authorized(const httplib::Request& req) const {
  if (options.api_key.empty()) return true;
  const std::string header = req.get_header_value("Authorization");
  const std::string prefix = "Bearer ";
  if (header.size() <= prefix.size() || header.compare(0, prefix.size(), prefix) != 0) return false;
  return detail::constant_time_equal(header.substr(prefix.size()), options.api_key);
}

GENARM_SERVER_INLINE void Server::Impl::handle_generation(Endpoint endpoint, const httplib::Request& req,
                                                          httplib::Response& res) {
  detail::t_request.body_consumed = true;
  ParsedRequest parsed = parse_request(endpoint, req.body, served, options.limits, next_seed());
  if (in_flight.fetch_add(1) >= options.limits.max_concurrent) {
    in_flight.fetch_sub(1);
    throw ApiError(429,
                   "Too many requests: " + std::to_string(options.limits.max_concurrent) +
                       " are queued or running. Retry later.",
                   "", "rate_limit_exceeded", "requests");
  }
  auto job = std::make_shared<Job>(*this, std::move(parsed));  // from here on it owns the in-flight count
  job->submit();
  if (job->req.stream) {
    auto stream = std::make_shared<Stream>(std::move(job));
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider("text/event-stream",
                                     [stream](size_t, httplib::DataSink& sink) { return stream->pump(sink); });
    return;
  }
  if (!job->wait()) {
    // The client disconnected: nobody reads this; the job's destructor cancels the rest.
    reply(res, 499, error_body(499, "client closed the connection", "", "client_closed_request"));
    return;
  }
  if (!job->error.empty()) {
    reply(res, 500, ApiError(500, "generation failed: " + job->error, "", "generation_error", "server_error").body());
    return;
  }
  reply(res, 200, job->response());
}

GENARM_SERVER_INLINE void Server::Impl::route() {
  using httplib::Request;
  using httplib::Response;
  const auto guarded = [this](auto fn) {
    return [this, fn](const Request& req, Response& res) {
      detail::t_request.body_consumed = true;
      try {
        fn(req, res);
      } catch (const ApiError& e) {
        if (e.status() == 429) res.set_header("Retry-After", "1");
        reply(res, e.status(), e.body());
      } catch (const Error& e) {
        reply(res, e.category() == ErrorCategory::kInternal ? 500 : 400,
              error_body(e.category() == ErrorCategory::kInternal ? 500 : 400, e.what()));
      } catch (const std::bad_alloc&) {
        reply(res, 500, error_body(500, "out of memory"));
      } catch (const std::exception& e) {
        reply(res, 500, error_body(500, std::string("internal error: ") + e.what()));
      }
    };
  };
  const auto not_allowed = [](const char* allowed) {
    return [allowed](const Request& req, Response& res) {
      detail::t_request.body_consumed = true;
      res.set_header("Allow", allowed);
      reply(res, 405, error_body(405, "Method " + req.method + " is not allowed on " + req.path + " (use " + allowed + ")",
                                 "", "method_not_allowed"));
    };
  };
  http->Post("/v1/completions", guarded([this](const Request& req, Response& res) {
    handle_generation(Endpoint::kCompletions, req, res);
  }));
  http->Post("/v1/chat/completions", guarded([this](const Request& req, Response& res) {
    handle_generation(Endpoint::kChat, req, res);
  }));
  http->Post("/tokenize", guarded([this](const Request& req, Response& res) { reply(res, 200, tokenize(req.body)); }));
  http->Get("/v1/models", guarded([this](const Request&, Response& res) { reply(res, 200, models_list(served)); }));
  http->Get(R"(/v1/models/(.+))", guarded([this](const Request& req, Response& res) {
    const std::string id = req.matches.size() > 1 ? std::string(req.matches[1]) : std::string();
    if (id != served.name) {
      throw ApiError(404, "The model '" + id + "' does not exist (this server serves '" + served.name + "').", "model",
                     "model_not_found");
    }
    reply(res, 200, model_object(served));
  }));
  http->Get("/health", guarded([this](const Request&, Response& res) {
    const BatchStats s = engine.stats();
    Json j = Json::object();
    j["status"] = is_draining ? "draining" : "ok";
    j["model"] = served.name;
    j["running"] = s.running;
    j["waiting"] = s.waiting;
    j["in_flight"] = in_flight.load();
    reply(res, is_draining ? 503 : 200, j);
  }));
  http->Get("/metrics", guarded([this](const Request&, Response& res) {
    res.status = 200;
    res.set_content(metrics_text(), "text/plain; version=0.0.4; charset=utf-8");
  }));
  http->Get("/v1/completions", not_allowed("POST"));
  http->Get("/v1/chat/completions", not_allowed("POST"));
  http->Post("/v1/models", not_allowed("GET"));
  http->Post("/health", not_allowed("GET"));
  http->Post("/metrics", not_allowed("GET"));

  // Before the body is read: drain and the API key.
  http->set_pre_routing_handler([this](const Request& req, Response& res) {
    if (is_draining) {
      res.set_header("Connection", "close");
      res.set_header("Retry-After", "1");
      detail::t_request.close_after = true;
      reply(res, 503, error_body(503, "The server is shutting down.", "", "server_shutting_down"));
      return httplib::Server::HandlerResponse::Handled;
    }
    if ((req.path.rfind("/v1/", 0) == 0 || req.path == "/tokenize") && !authorized(req)) {
      detail::t_request.close_after = true;
      const bool given = req.has_header("Authorization");
      reply(res, 401, error_body(401, given ? "Incorrect API key provided." :
                                               "You didn't provide an API key: send it as 'Authorization: Bearer KEY'.",
                                 "", given ? "invalid_api_key" : "missing_api_key"));
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Expect: 100-continue (curl sends it for bodies over 1 KiB): refuse before the body comes.
  http->set_expect_100_continue_handler([this](const Request& req, Response& res) {
    if (is_draining) {
      reply(res, 503, error_body(503, "The server is shutting down.", "", "server_shutting_down"));
      return 503;
    }
    if (req.path.rfind("/v1/", 0) == 0 && !authorized(req)) {
      reply(res, 401, error_body(401, "Incorrect API key provided.", "", "invalid_api_key"));
      return 401;
    }
    if (req.get_header_value<uint64_t>("Content-Length") > options.limits.max_body_bytes) {
      reply(res, 413, error_body(413, "Request body too large: at most " + std::to_string(options.limits.max_body_bytes) + " bytes.",
                                 "", "request_too_large"));
      return 413;
    }
    return 100;
  });
  // Errors httplib answers itself (malformed request, body too large, no such route).
  http->set_error_handler(httplib::Server::HandlerWithResponse([this](const Request& req, Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    std::string message = "HTTP " + std::to_string(res.status);
    std::string code;
    if (res.status == 404) {
      message = "Invalid URL (" + req.method + " " + req.path + ")";
      code = "unknown_url";
    } else if (res.status == 413) {
      message = "Request body too large: at most " + std::to_string(options.limits.max_body_bytes) + " bytes.";
      code = "request_too_large";
    } else if (res.status == 400) {
      message = "Malformed HTTP request.";
      code = "bad_request";
    } else if (res.status == 414) {
      message = "Request URI too long.";
      code = "uri_too_long";
    }
    reply(res, res.status, error_body(res.status, message, "", code));
    return httplib::Server::HandlerResponse::Handled;
  }));
  http->set_exception_handler([](const Request&, Response& res, std::exception_ptr) {
    reply(res, 500, error_body(500, "internal error"));
  });
  http->set_logger([this](const Request& req, const Response& res) {
    {
      std::lock_guard<std::mutex> lock(metrics.mutex);
      ++metrics.responses[{detail::endpoint_label(req.path), res.status}];
    }
    if (res.status >= 400 && !detail::t_request.body_consumed) detail::t_request.close_after = true;
    if (options.access_log != nullptr) {
      std::fprintf(options.access_log, "%s %s %s %d\n", req.remote_addr.c_str(), req.method.c_str(), req.path.c_str(),
                   res.status);
      std::fflush(options.access_log);
    }
  });
}

GENARM_SERVER_INLINE std::string Server::Impl::metrics_text() const {
  const BatchStats s = engine.stats();
  std::string out;
  char buf[128];
  const auto metric = [&](const char* name, const char* type, const char* help, double value) {
    std::snprintf(buf, sizeof buf, "%.9g", value);
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " + buf + "\n";
  };
  std::lock_guard<std::mutex> lock(metrics.mutex);
  out += "# HELP genarm_http_requests_total HTTP responses by endpoint and status code.\n"
         "# TYPE genarm_http_requests_total counter\n";
  for (const auto& [key, count] : metrics.responses) {
    out += "genarm_http_requests_total{endpoint=\"" + key.first + "\",status=\"" + std::to_string(key.second) + "\"} " +
           std::to_string(count) + "\n";
  }
  metric("genarm_prompt_tokens_total", "counter", "Prompt tokens of answered requests (usage.prompt_tokens).",
         static_cast<double>(metrics.prompt_tokens));
  metric("genarm_completion_tokens_total", "counter", "Completion tokens returned (usage.completion_tokens).",
         static_cast<double>(metrics.completion_tokens));
  metric("genarm_generated_tokens_total", "counter",
         "Tokens sampled by the batch engine and the ARGS worker (best-of-N candidates included).",
         static_cast<double>(s.generated + metrics.args_tokens));
  metric("genarm_engine_prefill_tokens_total", "counter", "Prompt tokens prefilled by the engine (every model's prompt).",
         static_cast<double>(s.prompt_tokens));
  metric("genarm_queue_length", "gauge", "Requests waiting for engine slots.", static_cast<double>(s.waiting));
  metric("genarm_args_queue_length", "gauge", "ARGS requests waiting for the ARGS worker.",
         static_cast<double>(args_waiting.load()));
  metric("genarm_running_sequences", "gauge", "Sequences in engine slots.", static_cast<double>(s.running));
  metric("genarm_requests_in_flight", "gauge", "Generation requests accepted and not finished.",
         static_cast<double>(in_flight.load()));
  metric("genarm_engine_steps_total", "counter", "Engine steps (batched forward passes).", static_cast<double>(s.steps));
  metric("genarm_mean_batch_size", "gauge", "Mean sequences sampled per engine step.",
         s.steps > 0 ? static_cast<double>(s.batch_rows) / static_cast<double>(s.steps) : 0.0);
  metric("genarm_time_per_token_seconds", "gauge", "Engine time per sampled token (step time / tokens sampled).",
         s.generated > 0 ? s.step_seconds / static_cast<double>(s.generated) : 0.0);
  metric("genarm_engine_busy_seconds_total", "counter", "Time spent in engine steps.", s.step_seconds);
  metric("genarm_requests_cancelled_total", "counter", "Requests whose client went away before they finished.",
         static_cast<double>(metrics.cancelled));
  metric("genarm_next_token_requests_total", "counter",
         "Next-token requests (max_tokens 1, one choice) answered through the prefix cache.",
         static_cast<double>(metrics.next_token_requests));
  metric("genarm_prefix_cache_reused_tokens_total", "counter",
         "Prompt tokens of next-token requests resumed from a cached state instead of recomputed.",
         static_cast<double>(metrics.prefix_reused));
  metric("genarm_prefix_cache_computed_tokens_total", "counter", "Prompt tokens of next-token requests run through a model.",
         static_cast<double>(metrics.prefix_computed));
  metric("genarm_next_token_seconds_total", "counter", "Engine-thread time spent on next-token requests.",
         metrics.next_token_seconds);
  metrics.ttft.write(out, "genarm_time_to_first_token_seconds", "Time from request to first token (streams).");
  metrics.duration.write(out, "genarm_request_duration_seconds", "Time from request to its end (generation requests).");
  return out;
}

GENARM_SERVER_INLINE Server::Server(const ServerModels& models, ServerOptions options)
    : impl_(std::make_unique<Impl>(models, std::move(options))) {}

GENARM_SERVER_INLINE Server::~Server() {
  if (impl_) stop();
}

GENARM_SERVER_INLINE int Server::bind() {
  Impl& s = *impl_;
  const int port = s.options.port == 0 ? s.http->bind_to_any_port(s.options.host)
                                       : (s.http->bind_to_port(s.options.host, s.options.port) ? s.options.port : -1);
  if (port < 0) {
    fail(ErrorCategory::kIo, "cannot listen on ", s.options.host, ":", s.options.port,
         " (address in use, or not an address of this machine)");
  }
  s.bound_port = port;
  return port;
}

GENARM_SERVER_INLINE void Server::run() {
  Impl& s = *impl_;
  s.ran = true;
  s.http->listen_after_bind();  // returns after drain(), once every connection thread is done
  s.shutdown_workers();
}

GENARM_SERVER_INLINE void Server::start() {
  bind();
  impl_->ran = true;
  impl_->run_thread = std::thread([this] { run(); });
}

GENARM_SERVER_INLINE void Server::drain() {
  Impl& s = *impl_;
  if (s.is_draining.exchange(true)) return;
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(s.wake_fd, &one, sizeof one);  // wakes idle keep-alive connections
  s.http->stop_accepting();
}

GENARM_SERVER_INLINE void Server::stop() {
  drain();
  if (impl_->run_thread.joinable()) impl_->run_thread.join();
}

GENARM_SERVER_INLINE int Server::port() const { return impl_->bound_port.load(); }
GENARM_SERVER_INLINE bool Server::draining() const { return impl_->is_draining.load(); }
GENARM_SERVER_INLINE const ServedModels& Server::served() const { return impl_->served; }
GENARM_SERVER_INLINE BatchStats Server::stats() const { return impl_->engine.stats(); }
GENARM_SERVER_INLINE size_t Server::in_flight() const { return impl_->in_flight.load(); }
GENARM_SERVER_INLINE std::string Server::metrics() const { return impl_->metrics_text(); }

}  // namespace genarm::server
