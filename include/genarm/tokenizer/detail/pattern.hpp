// The `pattern` member shared by Split, Replace (normalizer and decoder): {"String": "..."} is
// matched literally, {"Regex": "..."} with the regex engine.
#pragma once

#include <string>

#include "genarm/io/json.hpp"
#include "genarm/tokenizer/detail/hash.hpp"
#include "genarm/tokenizer/regex.hpp"

namespace genarm::tokenizer::detail {

struct PatternSpec {
  bool is_regex = false;
  std::string source;  // the literal string or the regex source

  Regex compile() const { return is_regex ? Regex(source) : Regex::literal(source); }
  void fingerprint(Hasher& h) const { h.boolean(is_regex).str(source); }
};

inline PatternSpec read_pattern(const io::JsonView& j) {
  j.expect_object();
  if (const auto s = j.find("String")) return {false, s->as_string()};
  if (const auto r = j.find("Regex")) return {true, r->as_string()};
  j.fail("expected {\"String\": ...} or {\"Regex\": ...}");
}

// Compiles a pattern, adding the JSON path to a regex error.
inline Regex compile_pattern(const PatternSpec& spec, const io::JsonView& where) {
  return where.with_context([&] { return spec.compile(); });
}

// Hugging Face expands "$1"-style group references in the content of a Regex Replace (Rust
// regex replace_all); groups do not capture here, so such content is refused rather than
// inserted literally.
inline void check_replace_content(const PatternSpec& spec, const std::string& content,
                                  const io::JsonView& where) {
  if (spec.is_regex && content.find('$') != std::string::npos) {
    where.unsupported("Replace content '", content,
                      "' with a Regex pattern: '$' group references are not supported");
  }
}

}  // namespace genarm::tokenizer::detail
