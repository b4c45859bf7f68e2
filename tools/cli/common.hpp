// Helpers shared by the genarm subcommands: finding the bundled toy models, resolving model
// arguments, printing numbers exactly.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "genarm/core/error.hpp"

namespace genarm::cli {

// The folder holding the bundled `models/` and `data/`: $GENARM_HOME if set, else next to an
// installed binary (<prefix>/share/genarm), else the source tree this binary was built from.
inline std::filesystem::path bundled_home() {
  if (const char* env = std::getenv("GENARM_HOME"); env != nullptr && *env != '\0') {
    if (!std::filesystem::is_directory(std::filesystem::path(env) / "models")) {
      fail(ErrorCategory::kIo, "GENARM_HOME=", env, ": no models/ folder there");
    }
    return env;
  }
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const auto installed = exe.parent_path().parent_path() / "share" / "genarm";
    if (std::filesystem::is_directory(installed / "models")) return installed;
  }
#ifdef GENARM_SOURCE_DIR
  if (std::filesystem::is_directory(std::filesystem::path(GENARM_SOURCE_DIR) / "models")) {
    return GENARM_SOURCE_DIR;
  }
#endif
  fail(ErrorCategory::kIo,
       "cannot find the bundled models: set GENARM_HOME to a folder holding models/ and data/, "
       "or name model folders explicitly");
}

// A model argument: an existing folder, or the name of a bundled model ("toy-base").
inline std::filesystem::path resolve_model(const std::string& arg) {
  if (std::filesystem::exists(arg)) return arg;
  if (arg.find('/') == std::string::npos) {
    std::filesystem::path bundled;
    try {
      bundled = bundled_home() / "models" / arg;
    } catch (const Error&) {
    }
    if (!bundled.empty() && std::filesystem::is_directory(bundled)) return bundled;
  }
  fail(ErrorCategory::kIo, arg, ": no such model folder (nor a bundled model of that name)");
}

inline std::filesystem::path bundled_data(const std::string& name) { return bundled_home() / "data" / name; }

// Shortest text that reads back as the same float.
inline std::string format_float(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(v));
  return buf;
}

inline void append_float_array(std::string& out, std::span<const float> values) {
  out += '[';
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out += ", ";
    out += std::isfinite(values[i]) ? format_float(values[i]) : std::string("null");
  }
  out += ']';
}

}  // namespace genarm::cli
