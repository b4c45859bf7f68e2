// genarm::remote::HttpClient — one keep-alive HTTP/1.1 connection to a serving engine, JSON in
// and out: timeouts, retries with exponential backoff on 429, 5xx and connection failures
// (Retry-After honoured), a Bearer API key, and errors that name the URL, the status and the
// engine's own message. Needs cpp-httplib (Debian libcpp-httplib-dev, pkg-config cpp-httplib):
// only code that includes remote/ links it; the rest of genarm does not need it.
// Ownership: owns its connection (opened at the first request, reopened after a failure).
// Thread-safety: not thread-safe (one client per sequence or thread).
#pragma once

// cpp-httplib includes <resolv.h>, whose macro _res is a parameter name in Eigen's product
// kernels: Eigen's core is read first, whatever the includer's order.
#include <Eigen/Core>
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>

#include "genarm/core/error.hpp"

namespace genarm::remote {

// An engine's address: http[s]://host[:port][/path] (the path is the API root, e.g. "/v1").
struct Url {
  std::string scheme = "http";
  std::string host;
  int port = 80;
  std::string path;  // no trailing '/'; "" for the server root

  std::string origin() const { return scheme + "://" + host + ":" + std::to_string(port); }
  std::string text() const { return origin() + path; }
  // The path with the API root's last segment dropped ("/v1" -> ""): where vLLM and llama.cpp
  // serve /tokenize and llama.cpp its native /completion.
  std::string root() const {
    const size_t slash = path.rfind('/');
    return slash == std::string::npos ? std::string() : path.substr(0, slash);
  }
};

// Error(kInvalidArgument) naming the text unless it is http[s]://host[:port][/path]; https needs
// cpp-httplib built with OpenSSL (Debian's is: its pkg-config defines CPPHTTPLIB_OPENSSL_SUPPORT).
inline Url parse_url(std::string_view text) {
  const std::string original(text);
  const auto bad = [&](const char* why) {
    fail(ErrorCategory::kInvalidArgument, "engine URL '", original, "': ", why,
         " (expected http://HOST:PORT/v1, e.g. http://127.0.0.1:8000/v1)");
  };
  Url u;
  if (text.rfind("https://", 0) == 0) {
#if defined(CPPHTTPLIB_OPENSSL_SUPPORT)
    u.scheme = "https";
    u.port = 443;
    text.remove_prefix(8);
#else
    bad("https needs cpp-httplib with OpenSSL (CPPHTTPLIB_OPENSSL_SUPPORT): use http or a local TLS proxy");
#endif
  } else if (text.rfind("http://", 0) == 0) {
    text.remove_prefix(7);
  } else {
    bad("it does not start with http:// or https://");
  }
  const size_t slash = text.find('/');
  std::string_view authority = text.substr(0, slash);
  u.path = slash == std::string_view::npos ? std::string() : std::string(text.substr(slash));
  while (!u.path.empty() && u.path.back() == '/') u.path.pop_back();
  if (authority.empty()) bad("no host");
  if (authority.find('@') != std::string_view::npos) bad("credentials in the URL are not supported (use the API key option)");
  const size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']') == std::string_view::npos) {
    const std::string_view port = authority.substr(colon + 1);
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos) bad("bad port");
    u.port = std::stoi(std::string(port));
    if (u.port < 1 || u.port > 65535) bad("port out of range");
    authority = authority.substr(0, colon);
  }
  if (authority.empty()) bad("no host");
  u.host = std::string(authority);
  return u;
}

struct HttpOptions {
  double connect_timeout = 5.0;  // seconds to open a connection
  double read_timeout = 120.0;   // seconds a response may take (an engine busy with others)
  double write_timeout = 30.0;   // seconds to send a request
  int retries = 4;               // further attempts after 429, 5xx or a connection failure
  double backoff = 0.25;         // seconds before the first retry, doubled each time (at most 8 s)
  std::string api_key;           // sent as "Authorization: Bearer <key>" when not empty
};

// What a client did, for cost accounting.
struct HttpStats {
  uint64_t requests = 0;        // exchanges that got an answer (retries included)
  uint64_t retries = 0;         // attempts repeated after 429, 5xx or a connection failure
  uint64_t bytes_sent = 0;      // request bodies
  uint64_t bytes_received = 0;  // response bodies
  double seconds = 0.0;         // wall time in exchanges (network + the engine's time), backoff excluded
};

struct HttpResponse {
  int status = 0;
  std::string body;
};

// The engine's own error message in a response body: OpenAI's {"error": {"message"}}, vLLM's
// older {"object": "error", "message"}, or the first bytes of whatever else it sent.
inline std::string engine_message(const std::string& body) {
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object()) {
    if (j.contains("error") && j["error"].is_object() && j["error"].contains("message") && j["error"]["message"].is_string()) {
      return j["error"]["message"].get<std::string>();
    }
    if (j.contains("error") && j["error"].is_string()) return j["error"].get<std::string>();
    if (j.contains("message") && j["message"].is_string()) return j["message"].get<std::string>();
  }
  std::string s = body.substr(0, 200);
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return s.empty() ? "(empty body)" : s + (body.size() > 200 ? "..." : "");
}

class HttpClient {
 public:
  HttpClient(Url url, HttpOptions options) : url_(std::move(url)), options_(std::move(options)) {}
  // A copy has the same address and options and its own connection (opened when first used).
  HttpClient(const HttpClient& other) : url_(other.url_), options_(other.options_) {}
  HttpClient& operator=(const HttpClient& other) {
    if (this != &other) {
      url_ = other.url_;
      options_ = other.options_;
      client_.reset();
      stats_ = {};
    }
    return *this;
  }
  HttpClient(HttpClient&&) noexcept = default;
  HttpClient& operator=(HttpClient&&) noexcept = default;

  const Url& url() const { return url_; }
  const HttpOptions& options() const { return options_; }
  const HttpStats& stats() const { return stats_; }

  // One exchange, retried on 429, 5xx and connection failures; any other status is returned.
  // Error(kIo) naming the URL, the last status or connection error and the attempts when the
  // retries are used up. `body` null: GET, else POST of JSON.
  HttpResponse exchange(const std::string& path, const std::string* body) {
    const char* method = body == nullptr ? "GET" : "POST";
    double wait = options_.backoff;
    std::string last;
    const int attempts = std::max(0, options_.retries) + 1;
    for (int attempt = 0; attempt < attempts; ++attempt) {
      if (attempt > 0) ++stats_.retries;
      httplib::Client& c = client();
      const auto t0 = std::chrono::steady_clock::now();
      httplib::Result res = body == nullptr ? c.Get(path) : c.Post(path, *body, "application/json");
      stats_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      double retry_after = -1.0;
      if (!res) {
        last = "no answer (" + httplib::to_string(res.error()) + ")";
        client_.reset();  // reconnect on the next attempt
      } else {
        ++stats_.requests;
        if (body != nullptr) stats_.bytes_sent += body->size();
        stats_.bytes_received += res->body.size();
        const int status = res->status;
        if (status != 429 && status < 500) return HttpResponse{status, std::move(res->body)};
        last = "HTTP " + std::to_string(status) + ": " + engine_message(res->body);
        if (res->has_header("Retry-After")) {
          const std::string v = res->get_header_value("Retry-After");
          char* end = nullptr;
          const double s = std::strtod(v.c_str(), &end);
          if (end != v.c_str() && std::isfinite(s) && s >= 0) retry_after = std::min(s, 30.0);
        }
      }
      if (attempt + 1 == attempts) break;
      std::this_thread::sleep_for(std::chrono::duration<double>(retry_after >= 0 ? retry_after : wait));
      wait = std::min(wait * 2.0, 8.0);
    }
    fail(ErrorCategory::kIo, method, " ", url_.origin(), path, ": ", last, " (", attempts,
         attempts == 1 ? " attempt" : " attempts", "; is the engine running at ", url_.text(), "?)");
  }

  // exchange() that also refuses any status but 2xx (Error(kIo) naming URL, status and the
  // engine's message) and parses the body as JSON (Error(kFormat) naming the URL otherwise).
  nlohmann::json json(const std::string& path, const std::string* body) {
    HttpResponse r = exchange(path, body);
    if (r.status < 200 || r.status >= 300) {
      fail(ErrorCategory::kIo, body == nullptr ? "GET " : "POST ", url_.origin(), path, ": HTTP ", r.status, ": ",
           engine_message(r.body));
    }
    return parse(path, r.body);
  }

  nlohmann::json parse(const std::string& path, const std::string& text) const {
    nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      fail(ErrorCategory::kFormat, url_.origin(), path, ": the response is not JSON: ", engine_message(text));
    }
    return j;
  }

 private:
  httplib::Client& client() {
    if (!client_) {
      client_ = std::make_unique<httplib::Client>(url_.origin());
      client_->set_keep_alive(true);
      client_->set_tcp_nodelay(true);
      const auto set = [](double s, auto&& setter) {
        const double clamped = std::clamp(s, 0.001, 86400.0);
        setter(static_cast<time_t>(clamped), static_cast<time_t>((clamped - std::floor(clamped)) * 1e6));
      };
      set(options_.connect_timeout, [&](time_t a, time_t b) { client_->set_connection_timeout(a, b); });
      set(options_.read_timeout, [&](time_t a, time_t b) { client_->set_read_timeout(a, b); });
      set(options_.write_timeout, [&](time_t a, time_t b) { client_->set_write_timeout(a, b); });
      if (!options_.api_key.empty()) client_->set_bearer_token_auth(options_.api_key.c_str());
    }
    return *client_;
  }

  Url url_;
  HttpOptions options_;
  std::unique_ptr<httplib::Client> client_;
  HttpStats stats_;
};

}  // namespace genarm::remote
