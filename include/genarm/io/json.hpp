// Reading JSON files and JSON values whose types are checked, not assumed. Every error names the
// file (origin) and the key path ("config.json: key 'rope_parameters.factor': expected a number,
// got string \"2\"").
// Thread-safety: JsonView is a non-owning view; thread-safe for concurrent reads.
#pragma once

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "genarm/core/error.hpp"

namespace genarm::io {

// Reads and parses a JSON file: Error(kIo) if it cannot be read, Error(kFormat) with the parser's
// position if it is not JSON.
inline nlohmann::json read_json_file(const std::filesystem::path& path) {
  // A directory opens as an empty stream (and a FIFO would block): reject anything not a file.
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!ec && std::filesystem::exists(status) && !std::filesystem::is_regular_file(status)) {
    fail(ErrorCategory::kIo, path.string(), ": not a regular file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorCategory::kIo, path.string(), ": cannot open: ", std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  try {
    return nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::parse_error& e) {
    fail(ErrorCategory::kFormat, path.string(), ": not valid JSON (byte ", e.byte, "): ",
         e.what());
  } catch (const nlohmann::json::exception& e) {  // out_of_range: a number beyond double, 1e400
    fail(ErrorCategory::kFormat, path.string(), ": not valid JSON: ", e.what());
  }
}

// A short, bounded rendering of a JSON value for error messages.
inline std::string describe_json(const nlohmann::json& value) {
  std::string text = value.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return std::string(value.type_name()) + " " + text;
}

// A JSON value together with where it came from, for typed access with useful errors.
class JsonView {
 public:
  JsonView(const nlohmann::json& value, std::string origin, std::string path = "")
      : value_(&value), origin_(std::move(origin)), path_(std::move(path)) {}

  const nlohmann::json& json() const { return *value_; }
  const std::string& origin() const { return origin_; }
  const std::string& path() const { return path_; }

  bool is_null() const { return value_->is_null(); }
  bool is_object() const { return value_->is_object(); }
  bool is_array() const { return value_->is_array(); }
  bool is_string() const { return value_->is_string(); }
  bool is_number() const { return value_->is_number(); }

  // True if this is an object holding `key` with a non-null value.
  bool has(std::string_view key) const {
    if (!value_->is_object()) return false;
    auto it = value_->find(key);
    return it != value_->end() && !it->is_null();
  }

  // The member `key`; Error(kConfig) if this is not an object or the key is missing.
  JsonView at(std::string_view key, ErrorCategory category = ErrorCategory::kConfig) const {
    expect_object(category);
    auto it = value_->find(key);
    if (it == value_->end()) {
      fail(category, origin_, ": missing key '", child_path(key), "'");
    }
    return JsonView(*it, origin_, child_path(key));
  }
  // The member `key` if present and not null.
  std::optional<JsonView> find(std::string_view key,
                               ErrorCategory category = ErrorCategory::kConfig) const {
    expect_object(category);
    auto it = value_->find(key);
    if (it == value_->end() || it->is_null()) return std::nullopt;
    return JsonView(*it, origin_, child_path(key));
  }
  JsonView at(size_t index, ErrorCategory category = ErrorCategory::kConfig) const {
    expect_array(category);
    if (index >= value_->size()) {
      fail(category, origin_, ": key '", path_, "': index ", index, " out of range (size ",
           value_->size(), ")");
    }
    return JsonView((*value_)[index], origin_, path_ + "[" + std::to_string(index) + "]");
  }
  size_t size(ErrorCategory category = ErrorCategory::kConfig) const {
    if (!value_->is_array() && !value_->is_object()) expect_array(category);
    return value_->size();
  }

  void expect_object(ErrorCategory category = ErrorCategory::kConfig) const {
    if (!value_->is_object()) type_error("an object", category);
  }
  void expect_array(ErrorCategory category = ErrorCategory::kConfig) const {
    if (!value_->is_array()) type_error("an array", category);
  }

  int64_t as_int(ErrorCategory category = ErrorCategory::kConfig) const {
    // Unsigned first: nlohmann's is_number_integer() is also true for unsigned values, whose
    // get<int64_t>() would wrap those above INT64_MAX to negative numbers.
    if (value_->is_number_unsigned()) {
      const auto u = value_->get<uint64_t>();
      if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return static_cast<int64_t>(u);
      }
    } else if (value_->is_number_integer()) {
      return value_->get<int64_t>();
    }
    if (value_->is_number_float()) {
      const double d = value_->get<double>();
      if (std::isfinite(d) && d == std::floor(d) && std::abs(d) < 9.0e15) {
        return static_cast<int64_t>(d);  // "4096.0" is still an integer
      }
    }
    type_error("an integer", category);
  }
  // An integer in [lo, hi].
  int64_t as_int_in(int64_t lo, int64_t hi, ErrorCategory category = ErrorCategory::kConfig) const {
    const int64_t v = as_int(category);
    if (v < lo || v > hi) {
      fail(category, origin_, ": key '", path_, "': value ", v, " out of range [", lo, ", ", hi,
           "]");
    }
    return v;
  }
  double as_number(ErrorCategory category = ErrorCategory::kConfig) const {
    if (!value_->is_number()) type_error("a number", category);
    return value_->get<double>();
  }
  bool as_bool(ErrorCategory category = ErrorCategory::kConfig) const {
    if (!value_->is_boolean()) type_error("a boolean", category);
    return value_->get<bool>();
  }
  std::string as_string(ErrorCategory category = ErrorCategory::kConfig) const {
    if (!value_->is_string()) type_error("a string", category);
    return value_->get<std::string>();
  }

  // Member accessors with defaults for absent or null keys.
  int64_t get_int(std::string_view key, int64_t fallback) const {
    auto v = find(key);
    return v ? v->as_int() : fallback;
  }
  double get_number(std::string_view key, double fallback) const {
    auto v = find(key);
    return v ? v->as_number() : fallback;
  }
  bool get_bool(std::string_view key, bool fallback) const {
    auto v = find(key);
    return v ? v->as_bool() : fallback;
  }
  std::string get_string(std::string_view key, std::string fallback) const {
    auto v = find(key);
    return v ? v->as_string() : fallback;
  }

  [[noreturn]] void type_error(std::string_view expected,
                               ErrorCategory category = ErrorCategory::kConfig) const {
    fail(category, origin_, ": key '", path_.empty() ? "<root>" : path_, "': expected ", expected,
         ", got ", describe_json(*value_));
  }

 private:
  std::string child_path(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }

  const nlohmann::json* value_;
  std::string origin_;
  std::string path_;
};

}  // namespace genarm::io
