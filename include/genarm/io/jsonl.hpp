// JSON Lines files: one JSON value per line. The reader names the file and line of a broken line
// (after the good lines before it have been processed) and bounds each line like any JSON text
// (io/json.hpp: size, then nesting depth); the writer flushes every line so that a batch job's
// results survive an interruption, and can append to resume.
// Thread-safety: not thread-safe (one reader/writer per file).
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "genarm/core/error.hpp"
#include "genarm/io/json.hpp"

namespace genarm::io {

class JsonlReader {
 public:
  explicit JsonlReader(const std::filesystem::path& path, const JsonLimits& limits = {})
      : path_(path), in_(path, std::ios::binary), limits_(limits) {
    if (!in_) fail(ErrorCategory::kIo, path.string(), ": cannot open: ", std::strerror(errno));
  }

  // The next non-blank line as JSON, or nullopt at the end. Error(kFormat) naming file:line.
  std::optional<nlohmann::json> next() {
    std::string line;
    while (read_line(line)) {
      ++line_number_;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t") == std::string::npos) continue;
      return parse_json(line, where(), limits_);
    }
    if (in_.bad()) fail(ErrorCategory::kIo, path_.string(), ": read error after line ", line_number_);
    return std::nullopt;
  }

  size_t line_number() const { return line_number_; }
  const std::filesystem::path& path() const { return path_; }
  // "file:line" of the last line returned, for messages about its content.
  std::string where() const { return path_.string() + ":" + std::to_string(line_number_); }

 private:
  // Reads up to the next '\n' (not kept) into `line`; false at the end of the file. A line is
  // refused as soon as it outgrows the JSON size limit, before it is held in memory whole.
  bool read_line(std::string& line) {
    line.clear();
    std::streambuf* buf = in_.rdbuf();
    for (bool any = false;; any = true) {
      const int c = buf->sbumpc();
      if (c == std::char_traits<char>::eof()) return any;
      if (c == '\n') return true;
      if (line.size() >= limits_.max_bytes) {
        fail(ErrorCategory::kFormat, path_.string(), ":", line_number_ + 1, ": line longer than the limit of ",
             limits_.max_bytes, " bytes");
      }
      line.push_back(static_cast<char>(c));
    }
  }

  std::filesystem::path path_;
  std::ifstream in_;
  JsonLimits limits_;
  size_t line_number_ = 0;
};

class JsonlWriter {
 public:
  // Truncates `path`, or appends to it when `append` (resuming a job).
  JsonlWriter(const std::filesystem::path& path, bool append) : path_(path) {
    file_ = std::fopen(path.c_str(), append ? "ab" : "wb");
    if (file_ == nullptr) {
      fail(ErrorCategory::kIo, path.string(), ": cannot open for writing: ", std::strerror(errno));
    }
  }
  ~JsonlWriter() {
    if (file_ != nullptr) std::fclose(file_);
  }
  JsonlWriter(const JsonlWriter&) = delete;
  JsonlWriter& operator=(const JsonlWriter&) = delete;

  // Writes one line and flushes it to the operating system.
  void write(const nlohmann::json& value) {
    const std::string line = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0) {
      fail(ErrorCategory::kIo, path_.string(), ": write failed: ", std::strerror(errno));
    }
  }

 private:
  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
};

}  // namespace genarm::io
