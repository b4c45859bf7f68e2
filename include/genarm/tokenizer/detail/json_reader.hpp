// JsonReader: a JSON value together with its key path ("model.merges[12]"), so that every
// type check and missing key in tokenizer.json is reported as a genarm::Error that names the
// exact place: "model.merges[12]: expected a string or a pair of strings, got a number".
// The loader prefixes the file name (genarm::with_context).
// Ownership: borrows the nlohmann::json it reads. Thread-safety: immutable, thread-safe.
#pragma once

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "genarm/core/error.hpp"
#include "genarm/core/utf8.hpp"

namespace genarm::tokenizer::detail {

class JsonReader {
 public:
  JsonReader(const nlohmann::json& value, std::string path) : value_(&value), path_(std::move(path)) {}

  const nlohmann::json& value() const { return *value_; }
  const std::string& path() const { return path_; }

  bool is_null() const { return value_->is_null(); }
  bool is_object() const { return value_->is_object(); }
  bool is_array() const { return value_->is_array(); }
  bool is_string() const { return value_->is_string(); }

  template <typename... Args>
  [[noreturn]] void fail(const Args&... args) const {
    genarm::fail(ErrorCategory::kTokenizer, where(), args...);
  }
  template <typename... Args>
  [[noreturn]] void unsupported(const Args&... args) const {
    genarm::fail(ErrorCategory::kUnsupported, where(), args...);
  }

  // A short name of the JSON type, for "expected X, got Y".
  std::string type_name() const {
    switch (value_->type()) {
      case nlohmann::json::value_t::null: return "null";
      case nlohmann::json::value_t::object: return "an object";
      case nlohmann::json::value_t::array: return "an array";
      case nlohmann::json::value_t::string: return "a string";
      case nlohmann::json::value_t::boolean: return "a boolean";
      case nlohmann::json::value_t::number_integer:
      case nlohmann::json::value_t::number_unsigned: return "an integer";
      case nlohmann::json::value_t::number_float: return "a number";
      default: return "an unexpected value";
    }
  }

  void expect_object() const {
    if (!is_object()) fail("expected an object, got ", type_name());
  }
  void expect_array() const {
    if (!is_array()) fail("expected an array, got ", type_name());
  }

  // The member `key`: must be present and not null.
  JsonReader at(std::string_view key) const {
    expect_object();
    const auto it = value_->find(key);
    if (it == value_->end() || it->is_null()) {
      genarm::fail(ErrorCategory::kTokenizer, child_path(key), ": missing required key");
    }
    return JsonReader(*it, child_path(key));
  }

  // The member `key`, or nullopt when it is absent or null.
  std::optional<JsonReader> find(std::string_view key) const {
    expect_object();
    const auto it = value_->find(key);
    if (it == value_->end() || it->is_null()) return std::nullopt;
    return JsonReader(*it, child_path(key));
  }

  size_t size() const {
    expect_array();
    return value_->size();
  }
  JsonReader at(size_t index) const {
    expect_array();
    return JsonReader((*value_)[index], path_ + "[" + std::to_string(index) + "]");
  }

  // Parsed JSON text is valid UTF-8, but a json built in code may hold any bytes: every string
  // the tokenizer uses is checked once here, so later stages can rely on it.
  std::string get_string() const {
    if (!is_string()) fail("expected a string, got ", type_name());
    std::string s = value_->get<std::string>();
    const size_t bad = utf8::find_invalid(s);
    if (bad != std::string::npos) fail("string is not valid UTF-8 (byte offset ", bad, ")");
    return s;
  }
  bool get_bool() const {
    if (!value_->is_boolean()) fail("expected a boolean, got ", type_name());
    return value_->get<bool>();
  }
  int64_t get_int(int64_t min = std::numeric_limits<int64_t>::min(),
                  int64_t max = std::numeric_limits<int64_t>::max()) const {
    int64_t v = 0;
    if (value_->is_number_unsigned()) {
      const uint64_t u = value_->get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        fail("integer ", u, " is out of range [", min, ", ", max, "]");
      }
      v = static_cast<int64_t>(u);
    } else if (value_->is_number_integer()) {
      v = value_->get<int64_t>();
    } else {
      fail("expected an integer, got ", type_name());
    }
    if (v < min || v > max) fail("integer ", v, " is out of range [", min, ", ", max, "]");
    return v;
  }

  // Optional members with a default (absent or null -> fallback).
  bool get_bool(std::string_view key, bool fallback) const {
    const auto v = find(key);
    return v ? v->get_bool() : fallback;
  }
  std::string get_string(std::string_view key, std::string fallback) const {
    const auto v = find(key);
    return v ? v->get_string() : fallback;
  }
  int64_t get_int(std::string_view key, int64_t fallback, int64_t min, int64_t max) const {
    const auto v = find(key);
    return v ? v->get_int(min, max) : fallback;
  }

  // The "type" member of a component object.
  std::string type() const { return at("type").get_string(); }

 private:
  std::string child_path(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }
  std::string where() const { return path_.empty() ? std::string() : path_ + ": "; }

  const nlohmann::json* value_;
  std::string path_;
};

}  // namespace genarm::tokenizer::detail
