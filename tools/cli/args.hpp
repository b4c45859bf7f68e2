// Command-line parsing for the genarm tool: each subcommand declares its options (for --help and
// validation); values are checked and converted with messages that name the flag and the value.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "genarm/core/error.hpp"

namespace genarm::cli {

// A usage mistake (unknown flag, missing value): exit code 2 instead of 1.
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& message) : Error(ErrorCategory::kInvalidArgument, message) {}
};

struct OptionSpec {
  std::string name;       // "--top-p"
  std::string value;      // placeholder for help ("P"); empty for a flag
  std::string help;
  bool repeatable = false;
};

class Args {
 public:
  Args(std::string command, std::vector<OptionSpec> specs) : command_(std::move(command)), specs_(std::move(specs)) {}

  // Parses argv (after the subcommand). Returns false if --help was given.
  bool parse(const std::vector<std::string>& argv) {
    for (size_t i = 0; i < argv.size(); ++i) {
      std::string arg = argv[i];
      if (arg == "--help" || arg == "-h") return false;
      std::optional<std::string> inline_value;
      if (auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
        inline_value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
      }
      const OptionSpec* spec = find_spec(arg);
      if (spec == nullptr) {
        throw UsageError("unknown option '" + arg + "' for 'genarm " + command_ + "' (see genarm " +
                         command_ + " --help)");
      }
      std::string value;
      if (spec->value.empty()) {
        if (inline_value) throw UsageError("option '" + arg + "' takes no value");
        value = "1";
      } else if (inline_value) {
        value = *inline_value;
      } else {
        if (i + 1 >= argv.size()) throw UsageError("option '" + arg + "' needs a value (" + spec->value + ")");
        value = argv[++i];
      }
      auto& slot = values_[spec->name];
      if (!slot.empty() && !spec->repeatable) {
        throw UsageError("option '" + arg + "' given more than once");
      }
      slot.push_back(value);
    }
    return true;
  }

  std::string help() const {
    std::string out;
    for (const auto& s : specs_) {
      std::string left = "  " + s.name + (s.value.empty() ? "" : " " + s.value);
      if (left.size() < 28) left.append(28 - left.size(), ' ');
      else left += "\n" + std::string(28, ' ');
      out += left + s.help + (s.repeatable ? " (repeatable)" : "") + "\n";
    }
    return out;
  }

  bool has(const std::string& name) const { return values_.count(name) > 0; }
  bool flag(const std::string& name) const { return has(name); }
  std::optional<std::string> get(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end()) return std::nullopt;
    return it->second.back();
  }
  std::string get_or(const std::string& name, const std::string& fallback) const {
    return get(name).value_or(fallback);
  }
  std::string require(const std::string& name) const {
    auto v = get(name);
    if (!v) throw UsageError("'genarm " + command_ + "' needs " + name + " (see --help)");
    return *v;
  }
  std::vector<std::string> all(const std::string& name) const {
    auto it = values_.find(name);
    return it == values_.end() ? std::vector<std::string>{} : it->second;
  }

  int64_t get_int(const std::string& name, int64_t fallback, int64_t lo, int64_t hi) const {
    auto v = get(name);
    if (!v) return fallback;
    return parse_int(name, *v, lo, hi);
  }
  double get_double(const std::string& name, double fallback) const {
    auto v = get(name);
    if (!v) return fallback;
    return parse_double(name, *v);
  }
  std::optional<double> get_optional_double(const std::string& name) const {
    auto v = get(name);
    if (!v) return std::nullopt;
    return parse_double(name, *v);
  }

  static int64_t parse_int(const std::string& name, std::string_view text, int64_t lo, int64_t hi) {
    int64_t v = 0;
    const auto* end = text.data() + text.size();
    auto [p, ec] = std::from_chars(text.data(), end, v);
    if (ec != std::errc() || p != end || text.empty()) {
      fail(ErrorCategory::kInvalidArgument, name, ": expected an integer, got '", text, "'");
    }
    if (v < lo || v > hi) {
      fail(ErrorCategory::kInvalidArgument, name, ": ", v, " is out of range [", lo, ", ", hi, "]");
    }
    return v;
  }
  static double parse_double(const std::string& name, std::string_view text) {
    std::string s(text);
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size() || errno == ERANGE || !std::isfinite(v)) {
      fail(ErrorCategory::kInvalidArgument, name, ": expected a finite number, got '", text, "'");
    }
    return v;
  }
  // "1,2,3" -> {1, 2, 3}; spaces allowed around the commas.
  static std::vector<int32_t> parse_ids(const std::string& name, std::string_view text) {
    std::vector<int32_t> ids;
    size_t start = 0;
    while (start <= text.size()) {
      size_t comma = text.find(',', start);
      if (comma == std::string_view::npos) comma = text.size();
      std::string_view item = text.substr(start, comma - start);
      while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
      while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
      if (item.empty()) {
        if (comma == text.size() && ids.empty() && text.find_first_not_of(' ') == std::string_view::npos) break;
        fail(ErrorCategory::kInvalidArgument, name, ": empty item in id list '", text, "'");
      }
      ids.push_back(static_cast<int32_t>(parse_int(name, item, 0, INT32_MAX)));
      start = comma + 1;
    }
    if (ids.empty()) fail(ErrorCategory::kInvalidArgument, name, ": expected comma-separated token ids");
    return ids;
  }
  static std::vector<double> parse_numbers(const std::string& name, std::string_view text) {
    std::vector<double> out;
    size_t start = 0;
    while (start <= text.size()) {
      size_t comma = text.find(',', start);
      if (comma == std::string_view::npos) comma = text.size();
      out.push_back(parse_double(name, text.substr(start, comma - start)));
      start = comma + 1;
    }
    return out;
  }

 private:
  const OptionSpec* find_spec(const std::string& name) const {
    for (const auto& s : specs_) {
      if (s.name == name) return &s;
    }
    return nullptr;
  }

  std::string command_;
  std::vector<OptionSpec> specs_;
  std::map<std::string, std::vector<std::string>> values_;
};

}  // namespace genarm::cli
