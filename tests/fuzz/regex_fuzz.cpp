// Fuzzes the tokenizer's regex engine (genarm::tokenizer::Regex), which compiles patterns read
// from tokenizer.json and runs them over user text: the classic home of hangs (catastrophic
// backtracking) and of out-of-bounds reads in hand-written parsers.
// Input: pattern, a NUL byte, subject (no NUL: the input is both). A pattern must compile or be
// refused with a genarm::Error; find_all on a valid UTF-8 subject must return in-bounds,
// ordered, non-overlapping matches on character boundaries (or a genarm::Error when the
// backtracking limit is hit), and refuse an ill-formed subject. Regex::literal(s) must match
// exactly s, for any s.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "genarm/core/utf8.hpp"
#include "genarm/tokenizer/regex.hpp"

namespace {

using genarm::tokenizer::Regex;
using genarm::tokenizer::RegexMatch;

bool boundary(std::string_view s, size_t i) {
  return i == 0 || i == s.size() || (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) != 0x80);
}

void check_matches(const std::vector<RegexMatch>& matches, std::string_view subject, std::string_view pattern) {
  size_t previous_end = 0;
  for (const RegexMatch& m : matches) {
    GENARM_FUZZ_CHECK(m.begin <= m.end && m.end <= subject.size(), "regex '", pattern, "': match [", m.begin,
                      ", ", m.end, ") outside a subject of ", subject.size(), " bytes");
    GENARM_FUZZ_CHECK(m.begin >= previous_end, "regex '", pattern, "': matches overlap or go backwards");
    GENARM_FUZZ_CHECK(boundary(subject, m.begin) && boundary(subject, m.end), "regex '", pattern,
                      "': match [", m.begin, ", ", m.end, ") splits a character");
    previous_end = m.end;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string_view pattern = input.substr(0, nul);
  const std::string_view subject = nul == std::string_view::npos ? input : input.substr(nul + 1);
  const bool subject_valid = genarm::utf8::is_valid(subject);

  std::optional<Regex> regex;
  if (genarm::fuzz::accepts("Regex", [&] { regex.emplace(pattern); })) {
    std::vector<RegexMatch> matches;
    const bool ok = genarm::fuzz::accepts("find_all", [&] { matches = regex->find_all(subject); });
    if (!subject_valid) GENARM_FUZZ_CHECK(!ok, "find_all accepted an ill-formed subject");
    if (ok) check_matches(matches, subject, pattern);
  }

  if (subject_valid) {
    std::optional<Regex> literal;
    const bool ok = genarm::fuzz::accepts("Regex::literal", [&] { literal.emplace(Regex::literal(subject)); });
    GENARM_FUZZ_CHECK(ok, "Regex::literal refused '", subject, "'");
    std::vector<RegexMatch> matches;
    GENARM_FUZZ_CHECK(genarm::fuzz::accepts("literal find_all", [&] { matches = literal->find_all(subject); }));
    check_matches(matches, subject, literal->pattern());
    if (!subject.empty()) {
      GENARM_FUZZ_CHECK(!matches.empty() && matches[0] == (RegexMatch{0, subject.size()}),
                        "Regex::literal('", subject, "') does not match itself");
    }
  }
  return 0;
}
