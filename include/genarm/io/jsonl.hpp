// JSON Lines files: one JSON value per line. The reader names the file and line of a broken line
// (after the good lines before it have been processed); the writer flushes every line so that a
// batch job's results survive an interruption, and can append to resume.
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

namespace genarm::io {

class JsonlReader {
 public:
  explicit JsonlReader(const std::filesystem::path& path) : path_(path), in_(path, std::ios::binary) {
    if (!in_) fail(ErrorCategory::kIo, path.string(), ": cannot open: ", std::strerror(errno));
  }

  // The next non-blank line as JSON, or nullopt at the end. Error(kFormat) naming file:line.
  std::optional<nlohmann::json> next() {
    std::string line;
    while (std::getline(in_, line)) {
      ++line_number_;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t") == std::string::npos) continue;
      try {
        return nlohmann::json::parse(line);
      } catch (const nlohmann::json::parse_error& e) {
        fail(ErrorCategory::kFormat, path_.string(), ":", line_number_, ": not valid JSON (column ",
             e.byte, ")");
      } catch (const nlohmann::json::exception& e) {  // out_of_range: a number beyond double, 1e400
        fail(ErrorCategory::kFormat, path_.string(), ":", line_number_, ": not valid JSON: ", e.what());
      }
    }
    if (in_.bad()) fail(ErrorCategory::kIo, path_.string(), ": read error after line ", line_number_);
    return std::nullopt;
  }

  size_t line_number() const { return line_number_; }
  const std::filesystem::path& path() const { return path_; }
  // "file:line" of the last line returned, for messages about its content.
  std::string where() const { return path_.string() + ":" + std::to_string(line_number_); }

 private:
  std::filesystem::path path_;
  std::ifstream in_;
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
