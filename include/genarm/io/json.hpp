// Parsing JSON from untrusted files, and JsonView: JSON values whose types are checked, not
// assumed, with errors that name the file and the key path:
//   config.json: hidden_size: expected an integer, got a string "64"
//   tokenizer.json: model.merges[12]: expected a string or a pair of strings, got an integer 12
// Every JSON text genarm reads (config.json, generation_config.json, tokenizer.json, indexes,
// safetensors headers, JSON Lines) goes through parse_json, which bounds its size and nesting
// depth first: nlohmann's parser and destructor are iterative, but dump(), copies and
// comparisons recurse once per level, so `[` x 200000 would overflow the stack later.
// Thread-safety: free functions are thread-safe; JsonView is immutable, thread-safe.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "genarm/core/error.hpp"
#include "genarm/core/utf8.hpp"

namespace genarm::io {

// Bounds on a JSON text, far above what real files reach and low enough that everything done
// with the parsed value afterwards (recursive dump(), copies, comparisons) is safe.
struct JsonLimits {
  // The largest real tokenizer.json files are about 35 MB (Gemma 3); a parsed document takes
  // up to ~15x its text in memory, so this also caps what a hostile file can allocate.
  size_t max_bytes = size_t{128} << 20;
  // serde_json's recursion limit, so also the deepest file that Hugging Face's Rust tokenizers
  // and safetensors can read; real files nest fewer than 10 levels.
  size_t max_depth = 128;
};

namespace detail {

// The byte offset of the first '[' or '{' that opens a level deeper than `max_depth`, or npos.
// Scans like a JSON tokenizer (brackets inside strings do not count). On any prefix that
// nlohmann accepts, strings are tracked exactly, and nlohmann stops at its first error, so the
// parser never nests deeper than this scan says.
inline size_t find_excess_json_depth(std::string_view text, size_t max_depth) {
  size_t depth = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    switch (text[i]) {
      case '"': {
        // Skip to the closing quote; a backslash escapes the byte after it.
        size_t end = i + 1;
        while ((end = text.find_first_of("\\\"", end)) != std::string_view::npos && text[end] == '\\') end += 2;
        if (end == std::string_view::npos) return std::string_view::npos;  // unterminated: the parser fails
        i = end;
        break;
      }
      case '[':
      case '{':
        if (++depth > max_depth) return i;
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default: break;
    }
  }
  return std::string_view::npos;
}

}  // namespace detail

// Parses untrusted JSON text read from `origin` (a file name, "file:line", "file: header").
// Error(kFormat) naming the origin for text over the limits or not JSON (with the byte offset).
inline nlohmann::json parse_json(std::string_view text, std::string_view origin, const JsonLimits& limits = {}) {
  if (text.size() > limits.max_bytes) {
    fail(ErrorCategory::kFormat, origin, ": JSON text of ", text.size(), " bytes exceeds the limit of ",
         limits.max_bytes, " bytes");
  }
  const size_t deep = detail::find_excess_json_depth(text, limits.max_depth);
  if (deep != std::string_view::npos) {
    fail(ErrorCategory::kFormat, origin, ": JSON nested deeper than ", limits.max_depth,
         " levels (byte ", deep + 1, ")");
  }
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    fail(ErrorCategory::kFormat, origin, ": not valid JSON (byte ", e.byte, "): ", e.what());
  } catch (const nlohmann::json::exception& e) {  // out_of_range: a number beyond double, 1e400
    fail(ErrorCategory::kFormat, origin, ": not valid JSON: ", e.what());
  }
}

// Reads and parses a JSON file: Error(kIo) if it cannot be read, Error(kFormat) naming the file
// if it is over the limits or not JSON.
inline nlohmann::json read_json_file(const std::filesystem::path& path, const JsonLimits& limits = {}) {
  // A directory opens as an empty stream (and a FIFO would block): reject anything not a file.
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!ec && std::filesystem::exists(status) && !std::filesystem::is_regular_file(status)) {
    fail(ErrorCategory::kIo, path.string(), ": not a regular file");
  }
  // Refuse an oversized file before reading it into memory.
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > limits.max_bytes) {
    fail(ErrorCategory::kFormat, path.string(), ": JSON text of ", size, " bytes exceeds the limit of ",
         limits.max_bytes, " bytes");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorCategory::kIo, path.string(), ": cannot open: ", std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) fail(ErrorCategory::kIo, path.string(), ": read error");
  return parse_json(text.view(), path.string(), limits);
}

namespace detail {

// The JSON type of `value` with its article, for "expected X, got Y": "an integer", "a string".
inline std::string_view json_type_name(const nlohmann::json& value) {
  switch (value.type()) {
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

}  // namespace detail

// A short, bounded rendering of a JSON value for error messages, its type then its text:
// `a string "64"`, `an integer 12`, `an array [1,2]`, `null`.
inline std::string describe_json(const nlohmann::json& value) {
  if (value.is_null()) return "null";
  // A json built in code may hold strings that are not UTF-8: replace, rather than throw.
  std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() > 60) {
    size_t cut = 57;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // whole characters
    text = text.substr(0, cut) + "...";
  }
  return std::string(detail::json_type_name(value)) + " " + text;
}

// JsonView: a JSON value together with where it came from — the origin (a file name, or
// "file:line" for JSON lines) and the key path inside it ("model.merges[12]",
// "weight_map[\"model.norm.weight\"]") — for typed access whose errors say where and what:
//   <origin>: <path>: <what was expected>, got <what was found>
// Every error is a genarm::Error of the category chosen once for the view (kConfig by default;
// kTokenizer for tokenizer.json, kFormat for data files), inherited by the views taken from it;
// unsupported() raises kUnsupported.
// Ownership: borrows the nlohmann::json it reads (which must outlive it); shares its origin with
// the views taken from it. Thread-safety: immutable, thread-safe.
class JsonView {
 public:
  // A view of `value` read from `origin`; `path` places `value` inside its document when it is
  // not the root.
  JsonView(const nlohmann::json& value, std::string origin, ErrorCategory category = ErrorCategory::kConfig,
           std::string path = "")
      : value_(&value),
        origin_(std::make_shared<const std::string>(std::move(origin))),
        path_(std::move(path)),
        category_(category) {}

  const nlohmann::json& json() const { return *value_; }
  const std::string& origin() const { return *origin_; }
  const std::string& path() const { return path_; }
  ErrorCategory category() const { return category_; }

  bool is_null() const { return value_->is_null(); }
  bool is_object() const { return value_->is_object(); }
  bool is_array() const { return value_->is_array(); }
  bool is_string() const { return value_->is_string(); }
  bool is_number() const { return value_->is_number(); }
  bool is_boolean() const { return value_->is_boolean(); }
  // "an integer", "a string", ...: for "expected X, got Y".
  std::string_view type_name() const { return detail::json_type_name(*value_); }

  // Errors at this value: "<origin>: <path>: " then the streamed arguments, in the view's
  // category (fail) or as kUnsupported (a valid file using a feature genarm does not implement).
  template <typename... Args>
  [[noreturn]] void fail(const Args&... args) const {
    genarm::fail(category_, location(), args...);
  }
  template <typename... Args>
  [[noreturn]] void unsupported(const Args&... args) const {
    genarm::fail(ErrorCategory::kUnsupported, location(), args...);
  }
  // "expected <expected>, got <this value>".
  [[noreturn]] void type_error(std::string_view expected) const {
    fail("expected ", expected, ", got ", describe_json(*value_));
  }
  // Runs fn; a genarm::Error it throws (checks made after reading, such as compiling a regex) gets
  // this view's location in front, keeping its category.
  template <typename Fn>
  decltype(auto) with_context(Fn&& fn) const {
    std::string where = location();
    if (where.empty()) return std::forward<Fn>(fn)();
    where.resize(where.size() - 2);  // genarm::with_context adds the ": "
    return genarm::with_context(where, std::forward<Fn>(fn));
  }

  void expect_object() const {
    if (!is_object()) type_error("an object");
  }
  void expect_array() const {
    if (!is_array()) type_error("an array");
  }

  // True if this is an object holding `key` with a non-null value.
  bool has(std::string_view key) const {
    if (!value_->is_object()) return false;
    const auto it = value_->find(key);
    return it != value_->end() && !it->is_null();
  }
  // The member `key`; an error if this is not an object or `key` is absent or null (Hugging Face
  // writes null for "not set").
  JsonView at(std::string_view key) const {
    expect_object();
    const auto it = value_->find(key);
    if (it == value_->end() || it->is_null()) {
      genarm::fail(category_, location_of(child_path(key)), "missing required key");
    }
    return JsonView(*it, *this, child_path(key));
  }
  // The member `key` if present and not null.
  std::optional<JsonView> find(std::string_view key) const {
    expect_object();
    const auto it = value_->find(key);
    if (it == value_->end() || it->is_null()) return std::nullopt;
    return JsonView(*it, *this, child_path(key));
  }
  // Calls fn(key, member view) for each member of this object, in the object's order.
  template <typename Fn>
  void for_each_member(Fn&& fn) const {
    expect_object();
    for (const auto& [key, value] : value_->items()) fn(key, JsonView(value, *this, child_path(key)));
  }

  // The number of elements of this array.
  size_t size() const {
    expect_array();
    return value_->size();
  }
  JsonView at(size_t index) const {
    if (index >= size()) fail("index ", index, " out of range (size ", value_->size(), ")");
    return JsonView((*value_)[index], *this, path_ + "[" + std::to_string(index) + "]");
  }

  // An integer in [min, max]. An integral float ("4096.0", as Python may write it) is an integer.
  int64_t as_int(int64_t min = std::numeric_limits<int64_t>::min(),
                 int64_t max = std::numeric_limits<int64_t>::max()) const {
    bool integral = false;  // a whole number, whether or not it is in range
    std::optional<int64_t> v;
    // Unsigned first: nlohmann's is_number_integer() is also true for unsigned values, whose
    // get<int64_t>() would wrap those above INT64_MAX to negative numbers.
    if (value_->is_number_unsigned()) {
      integral = true;
      const auto u = value_->get<uint64_t>();
      if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) v = static_cast<int64_t>(u);
    } else if (value_->is_number_integer()) {
      integral = true;
      v = value_->get<int64_t>();
    } else if (value_->is_number_float()) {
      const double d = value_->get<double>();
      integral = std::isfinite(d) && d == std::floor(d);
      if (integral && std::abs(d) < 9.0e15) v = static_cast<int64_t>(d);
    }
    if (v && *v >= min && *v <= max) return *v;
    if (!integral) type_error("an integer");
    type_error(genarm::detail::make_message("an integer in [", min, ", ", max, "]"));
  }
  double as_number() const {
    if (!value_->is_number()) type_error("a number");
    return value_->get<double>();
  }
  bool as_bool() const {
    if (!value_->is_boolean()) type_error("a boolean");
    return value_->get<bool>();
  }
  // A string, checked to be valid UTF-8 (parsed JSON text is, but a json built in code may hold
  // any bytes), so that later stages can rely on it.
  std::string as_string() const {
    if (!value_->is_string()) type_error("a string");
    std::string s = value_->get<std::string>();
    const size_t bad = utf8::find_invalid(s);
    if (bad != std::string::npos) fail("string is not valid UTF-8 (ill-formed sequence at byte offset ", bad, ")");
    return s;
  }

  // Optional members: absent or null -> fallback; a present value of the wrong type is an error.
  int64_t get_int(std::string_view key, int64_t fallback,
                  int64_t min = std::numeric_limits<int64_t>::min(),
                  int64_t max = std::numeric_limits<int64_t>::max()) const {
    const auto v = find(key);
    return v ? v->as_int(min, max) : fallback;
  }
  double get_number(std::string_view key, double fallback) const {
    const auto v = find(key);
    return v ? v->as_number() : fallback;
  }
  bool get_bool(std::string_view key, bool fallback) const {
    const auto v = find(key);
    return v ? v->as_bool() : fallback;
  }
  std::string get_string(std::string_view key, std::string fallback) const {
    const auto v = find(key);
    return v ? v->as_string() : fallback;
  }

  // The "type" member of a component object (tokenizer.json's normalizers, decoders, ...).
  std::string type() const { return at("type").as_string(); }

 private:
  // A view of `value`, a member or element of `parent`.
  JsonView(const nlohmann::json& value, const JsonView& parent, std::string path)
      : value_(&value), origin_(parent.origin_), path_(std::move(path)), category_(parent.category_) {}

  // Plain keys extend the path with ".key"; others (tokens, tensor names with dots) are quoted
  // as JSON: model.vocab["Ġthe"], weight_map["model.norm.weight"].
  std::string child_path(std::string_view key) const {
    const bool plain = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    });
    if (plain) return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
    return path_ + "[" +
           nlohmann::json(std::string(key)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "]";
  }
  // "<origin>: <path>: ", leaving out an empty part.
  std::string location_of(const std::string& path) const {
    std::string out;
    if (!origin_->empty()) out += *origin_ + ": ";
    if (!path.empty()) out += path + ": ";
    return out;
  }
  std::string location() const { return location_of(path_); }

  const nlohmann::json* value_;
  std::shared_ptr<const std::string> origin_;
  std::string path_;
  ErrorCategory category_;
};

}  // namespace genarm::io
