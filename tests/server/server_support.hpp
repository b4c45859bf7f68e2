// Helpers of the server tests: a blocking HTTP/1.1 client over plain sockets (so that tests can
// also misbehave: trickle bytes, stop reading, disconnect mid-stream), server-sent event parsing,
// and the bundled toy models.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace genarm::testing {

inline std::filesystem::path toy_model(const std::string& name) {
  return std::filesystem::path(GENARM_SOURCE_DIR) / "models" / name;
}

// One client connection.
class HttpConnection {
 public:
  explicit HttpConnection(int port, int rcvbuf = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~HttpConnection() { close(); }
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  bool connected() const { return connected_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool send(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      const ssize_t n = ::send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
  // Reads what arrives within `timeout_ms`; "" on timeout, and sets eof() when the peer closed.
  std::string read_some(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return {};
    char buf[65536];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      eof_ = true;
      return {};
    }
    return std::string(buf, static_cast<size_t>(n));
  }
  // Reads until the peer closes or `timeout_ms` passes without bytes.
  std::string read_all(int timeout_ms = 20000) {
    std::string out;
    while (!eof_) {
      std::string s = read_some(timeout_ms);
      if (s.empty() && !eof_) break;
      out += s;
    }
    return out;
  }
  bool eof() const { return eof_; }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;                            // de-chunked
  nlohmann::json json() const { return nlohmann::json::parse(body); }
};

inline std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Parses one whole response (the connection was closed after it).
inline HttpResponse parse_response(const std::string& raw) {
  HttpResponse r;
  const size_t head_end = raw.find("\r\n\r\n");
  if (raw.compare(0, 5, "HTTP/") != 0 || head_end == std::string::npos) return r;
  r.status = std::stoi(raw.substr(9, 3));
  size_t pos = raw.find("\r\n") + 2;
  while (pos < head_end) {
    const size_t end = raw.find("\r\n", pos);
    const std::string line = raw.substr(pos, end - pos);
    const size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string v = line.substr(colon + 1);
      while (!v.empty() && v.front() == ' ') v.erase(0, 1);
      r.headers[lower(line.substr(0, colon))] = v;
    }
    pos = end + 2;
  }
  std::string body = raw.substr(head_end + 4);
  if (lower(r.headers["transfer-encoding"]) == "chunked") {
    std::string out;
    size_t p = 0;
    while (p < body.size()) {
      const size_t eol = body.find("\r\n", p);
      if (eol == std::string::npos) break;
      const size_t n = std::stoul(body.substr(p, eol - p), nullptr, 16);
      if (n == 0) break;
      out += body.substr(eol + 2, n);
      p = eol + 2 + n + 2;
    }
    body = out;
  }
  r.body = body;
  return r;
}

inline std::string request_text(const std::string& method, const std::string& path, const std::string& body,
                                const std::vector<std::string>& headers = {}) {
  std::string r = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  for (const auto& h : headers) r += h + "\r\n";
  if (method == "POST") r += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  return r + "\r\n" + body;
}

inline HttpResponse http(int port, const std::string& method, const std::string& path, const std::string& body = {},
                         const std::vector<std::string>& headers = {}) {
  HttpConnection c(port);
  if (!c.connected() || !c.send(request_text(method, path, body, headers))) return {};
  return parse_response(c.read_all());
}

inline HttpResponse post(int port, const std::string& path, const nlohmann::json& body,
                         const std::vector<std::string>& headers = {}) {
  return http(port, "POST", path, body.dump(), headers);
}

// The JSON events of a server-sent event stream; `done` when it ended with "data: [DONE]".
struct EventStream {
  std::vector<nlohmann::json> events;
  bool done = false;
  bool well_formed = true;  // every event was "data: <json>\n\n"
};

inline EventStream parse_events(const std::string& body) {
  EventStream s;
  size_t pos = 0;
  while (pos < body.size()) {
    const size_t end = body.find("\n\n", pos);
    if (end == std::string::npos) {
      s.well_formed = false;
      break;
    }
    const std::string event = body.substr(pos, end - pos);
    pos = end + 2;
    if (event.compare(0, 6, "data: ") != 0) {
      s.well_formed = false;
      continue;
    }
    const std::string data = event.substr(6);
    if (data == "[DONE]") {
      s.done = true;
      if (pos != body.size()) s.well_formed = false;
      break;
    }
    s.events.push_back(nlohmann::json::parse(data));
  }
  return s;
}

// A stream's text per choice index (completions "text", chat "delta.content").
inline std::map<int, std::string> stream_texts(const EventStream& s) {
  std::map<int, std::string> out;
  for (const auto& e : s.events) {
    for (const auto& c : e["choices"]) {
      const int i = c["index"].get<int>();
      if (c.contains("text")) out[i] += c["text"].get<std::string>();
      if (c.contains("delta") && c["delta"].contains("content") && c["delta"]["content"].is_string()) {
        out[i] += c["delta"]["content"].get<std::string>();
      }
    }
  }
  return out;
}

// Polls `cond` every 10 ms for up to `timeout_ms`.
template <typename Cond>
bool eventually(Cond&& cond, int timeout_ms = 5000) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

}  // namespace genarm::testing
