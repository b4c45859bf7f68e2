// What batch commands (generate --input, eval) need around the batch engine: progress on stderr,
// results written in input order as they complete, and resuming a job that was killed.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <system_error>

#include "genarm/core/error.hpp"
#include "genarm/io/json.hpp"
#include "genarm/io/jsonl.hpp"

namespace genarm::cli {

// Progress of a batch job on stderr: one redrawn line on a terminal (prompts done / total,
// tokens/s, ETA), plain lines every 10% (and at the end) otherwise.
class Progress {
 public:
  Progress(std::string label, size_t total, size_t already_done = 0)
      : label_(std::move(label)), total_(total), start_done_(already_done), tty_(::isatty(2) == 1),
        start_(std::chrono::steady_clock::now()) {}

  void update(size_t done, double tokens) {
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double tps = seconds > 0 ? tokens / seconds : 0.0;
    const size_t fresh = done > start_done_ ? done - start_done_ : 0;
    const double eta = fresh > 0 ? seconds / static_cast<double>(fresh) * static_cast<double>(total_ - done) : 0.0;
    if (tty_) {
      std::fprintf(stderr, "\r\033[K  %-40.40s %zu/%zu prompts  %.0f tok/s  ETA %s", label_.c_str(), done, total_, tps,
                   format_duration(eta).c_str());
      if (done == total_) std::fprintf(stderr, "  (%s)\n", format_duration(seconds).c_str());
    } else if (done == total_ || done * 10 / std::max<size_t>(total_, 1) != last_decile_) {
      last_decile_ = done * 10 / std::max<size_t>(total_, 1);
      std::fprintf(stderr, "  %s: %zu/%zu prompts, %.0f tok/s, %s elapsed\n", label_.c_str(), done, total_, tps,
                   format_duration(seconds).c_str());
    }
    std::fflush(stderr);
  }

 private:
  static std::string format_duration(double s) {
    char buf[32];
    if (s < 60) {
      std::snprintf(buf, sizeof buf, "%.0fs", s);
    } else if (s < 3600) {
      std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
    } else {
      std::snprintf(buf, sizeof buf, "%dh%02dm", static_cast<int>(s) / 3600, static_cast<int>(s) / 60 % 60);
    }
    return buf;
  }

  std::string label_;
  size_t total_;
  size_t start_done_;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
  size_t last_decile_ = 0;
};

// The ids ("id" member, as JSON text) of the complete result lines of `path`, for --resume. A last
// line cut off by a killed job (no newline) is removed from the file, so that appended results
// start on a line of their own; a complete line that is not JSON is an error naming file:line.
inline std::set<std::string> finished_ids(const std::filesystem::path& path) {
  std::set<std::string> ids;
  if (!std::filesystem::exists(path)) return ids;
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorCategory::kIo, path.string(), ": cannot open to resume");
  std::string line;
  size_t line_number = 0;
  std::streamoff complete = 0;  // bytes of the file up to the end of the last complete line
  while (std::getline(in, line)) {
    if (in.eof()) break;  // no newline after it: cut off
    ++line_number;
    complete = in.tellg();
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const nlohmann::json j = io::parse_json(line, path.string() + ":" + std::to_string(line_number));
    ids.insert(j.value("id", nlohmann::json()).dump());
  }
  in.close();
  if (static_cast<std::uintmax_t>(complete) < std::filesystem::file_size(path)) {
    std::error_code ec;
    std::filesystem::resize_file(path, static_cast<std::uintmax_t>(complete), ec);
    if (ec) fail(ErrorCategory::kIo, path.string(), ": cannot cut the incomplete last line: ", ec.message());
  }
  return ids;
}

// Writes result lines in input order as they complete: a result waits only for those before it
// (at most a batch's worth), each line flushed when written.
class OrderedWriter {
 public:
  OrderedWriter(io::JsonlWriter& writer) : writer_(&writer) {}

  // The result of input `index`; `skipped` inputs (already in the file) are not waited for.
  void add(size_t index, nlohmann::json line, const std::set<size_t>& skipped) {
    waiting_.emplace(index, std::move(line));
    for (;;) {
      while (skipped.count(next_)) ++next_;
      auto it = waiting_.find(next_);
      if (it == waiting_.end()) break;
      writer_->write(it->second);
      waiting_.erase(it);
      ++next_;
    }
  }

 private:
  io::JsonlWriter* writer_;
  std::map<size_t, nlohmann::json> waiting_;
  size_t next_ = 0;
};

}  // namespace genarm::cli
