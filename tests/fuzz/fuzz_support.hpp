// Shared by the libFuzzer targets: the one rule every target checks (bad bytes may only end in a
// genarm::Error), invariant checks that abort with a message, and the fixture paths.
//
// A finding is anything else: another exception type escaping, a genarm::Error of category
// kInternal (a broken invariant inside genarm), a crash or sanitizer report, a broken
// invariant checked by the target, a timeout or an out-of-memory (the last two are libFuzzer's).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <new>
#include <string>
#include <string_view>
#include <typeinfo>

#include "genarm/core/error.hpp"

namespace genarm::fuzz {

inline std::filesystem::path source_dir() { return GENARM_FUZZ_SOURCE_DIR; }

// Reports a finding on stderr and aborts, so that libFuzzer saves the input as a crash.
template <typename... Args>
[[noreturn]] void finding(const Args&... args) {
  const std::string message = genarm::detail::make_message(args...);
  std::fprintf(stderr, "\n==== genarm fuzz finding: %s\n", message.c_str());
  std::fflush(stderr);
  std::abort();
}

// Runs `fn` on untrusted input. Returns true when it completed, false when it threw a
// genarm::Error (the accepted outcome of bad input; its message goes to `error` if given);
// anything else escaping is a finding.
template <typename Fn>
bool accepts(std::string_view what, Fn&& fn, std::string* error = nullptr) {
  try {
    fn();
    return true;
  } catch (const genarm::Error& e) {
    if (e.category() == ErrorCategory::kInternal) finding(what, ": internal error: ", e.what());
    if (std::string_view(e.what()).empty()) finding(what, ": genarm::Error without a message");
    if (error) *error = e.what();
    return false;
  } catch (const std::bad_alloc&) {
    finding(what, ": std::bad_alloc escaped (an allocation sized by untrusted input?)");
  } catch (const std::exception& e) {
    finding(what, ": ", typeid(e).name(), " escaped instead of genarm::Error: ", e.what());
  } catch (...) {
    finding(what, ": a non-std exception escaped");
  }
}

}  // namespace genarm::fuzz

// An invariant of the code under test: a failure is a finding, reported with the condition.
#define GENARM_FUZZ_CHECK(cond, ...)                                                          \
  do {                                                                                        \
    if (!(cond)) ::genarm::fuzz::finding("check failed: " #cond " (", __FILE__, ":", __LINE__, \
                                         ") " __VA_OPT__(, ) __VA_ARGS__);                    \
  } while (0)
