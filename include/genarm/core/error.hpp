// genarm::Error — the one exception type of the library.
//
// Every failure a user can cause (a bad file, flag, prompt or parameter) is reported as a
// genarm::Error whose message names the file, key, tensor or value at fault and what was
// expected. The category lets callers react without parsing text (the CLI maps every category
// to exit code 1; tests check both the category and the message).
// Thread-safety: immutable value type, thread-safe.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace genarm {

enum class ErrorCategory {
  kIo,               // a file cannot be opened, mapped or read
  kFormat,           // bytes that do not follow their format (safetensors, JSON, JSONL)
  kConfig,           // a well-formed config.json that lacks or misstates something
  kTokenizer,        // tokenizer.json content, or text that cannot be tokenized
  kInvalidArgument,  // a parameter, flag or id out of its documented range
  kUnsupported,      // a valid input using a feature genarm does not implement
  kInternal,         // a broken invariant inside genarm (a bug: please report it)
};

inline std::string_view to_string(ErrorCategory category) {
  switch (category) {
    case ErrorCategory::kIo: return "io";
    case ErrorCategory::kFormat: return "format";
    case ErrorCategory::kConfig: return "config";
    case ErrorCategory::kTokenizer: return "tokenizer";
    case ErrorCategory::kInvalidArgument: return "invalid_argument";
    case ErrorCategory::kUnsupported: return "unsupported";
    case ErrorCategory::kInternal: return "internal";
  }
  return "unknown";
}

class Error : public std::runtime_error {
 public:
  Error(ErrorCategory category, const std::string& message)
      : std::runtime_error(message), category_(category) {}

  ErrorCategory category() const noexcept { return category_; }

 private:
  ErrorCategory category_;
};

namespace detail {
// Streams every argument into one string: make_message("tensor '", name, "' has ", n, " dims").
template <typename... Args>
std::string make_message(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}
}  // namespace detail

// Throws a genarm::Error built from the streamed arguments.
template <typename... Args>
[[noreturn]] void fail(ErrorCategory category, const Args&... args) {
  throw Error(category, detail::make_message(args...));
}

// Adds context (typically a file path) in front of an Error raised deeper down, keeping its
// category: "config.json: hidden_size: expected a positive integer".
template <typename Fn>
decltype(auto) with_context(std::string_view context, Fn&& fn) {
  try {
    return std::forward<Fn>(fn)();
  } catch (const Error& e) {
    throw Error(e.category(), std::string(context) + ": " + e.what());
  }
}

}  // namespace genarm

// Always-on invariant check for the hot path: a failure is a genarm bug, reported as kInternal.
#define GENARM_ASSERT(cond)                                                              \
  do {                                                                                   \
    if (!(cond)) [[unlikely]]                                                            \
      ::genarm::fail(::genarm::ErrorCategory::kInternal, "assertion failed: " #cond " (", \
                     __FILE__, ":", __LINE__, ")");                                      \
  } while (0)

// Debug-only invariant check (compiled out with NDEBUG).
#ifdef NDEBUG
#define GENARM_DASSERT(cond) \
  do {                       \
  } while (0)
#else
#define GENARM_DASSERT(cond) GENARM_ASSERT(cond)
#endif
