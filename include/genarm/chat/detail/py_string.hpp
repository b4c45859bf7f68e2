// Python str semantics over UTF-8 std::string, for the Jinja interpreter: chat templates index,
// slice, strip, split and case-convert strings the way Python 3 does, on code points (not bytes)
// and with Python's notion of whitespace (str.isspace) and printability (str.isprintable, used
// by repr()).
// Case mappings come from genarm's Unicode tables (the tokenizer's): lowercasing is the full
// mapping; uppercasing and titlecasing use the simple mappings (so "ß".upper() stays "ß" where
// Python gives "SS" — the one full uppercase mapping handled is ß itself).
// Thread-safety: free functions without state, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "genarm/core/utf8.hpp"
#include "genarm/tokenizer/unicode.hpp"

namespace genarm::chat::detail {

// Decodes a UTF-8 string (already valid: every string the interpreter holds is) into code points.
inline std::vector<char32_t> to_code_points(std::string_view s) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const utf8::Decoded d = utf8::decode(s, i);
    out.push_back(d.code_point);
    i += d.length;
  }
  return out;
}

inline std::string from_code_points(const std::vector<char32_t>& cps, size_t begin = 0,
                                    size_t end = static_cast<size_t>(-1)) {
  std::string out;
  if (end > cps.size()) end = cps.size();
  for (size_t i = begin; i < end; ++i) utf8::append(out, cps[i]);
  return out;
}

inline bool is_ascii(std::string_view s) {
  for (const char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

// len(s): the number of code points.
inline size_t code_point_count(std::string_view s) {
  size_t n = 0;
  for (const char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// str.isspace() for one character: bidirectional class WS, B or S, or category Zs — the
// White_Space property plus the information separators U+001C..U+001F.
inline bool py_isspace(char32_t cp) {
  return tokenizer::is_white_space(cp) || (cp >= 0x1C && cp <= 0x1F);
}

// str.isprintable() for one character: everything but Cc, Cf, Cs, Co, Cn, Zl, Zp and Zs other
// than the ASCII space.
inline bool py_isprintable(char32_t cp) {
  if (cp < 0x80) return cp >= 0x20 && cp < 0x7F;
  using tokenizer::GeneralCategory;
  switch (tokenizer::general_category(cp)) {
    case GeneralCategory::kCc:
    case GeneralCategory::kCf:
    case GeneralCategory::kCs:
    case GeneralCategory::kCo:
    case GeneralCategory::kCn:
    case GeneralCategory::kZl:
    case GeneralCategory::kZp:
    case GeneralCategory::kZs: return false;
    default: return true;
  }
}

inline bool py_is_cased(char32_t cp) {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
  using tokenizer::GeneralCategory;
  const auto c = tokenizer::general_category(cp);
  return c == GeneralCategory::kLu || c == GeneralCategory::kLl || c == GeneralCategory::kLt;
}

inline bool py_is_lower(char32_t cp) {
  if (cp < 0x80) return cp >= 'a' && cp <= 'z';
  return tokenizer::general_category(cp) == tokenizer::GeneralCategory::kLl;
}

inline bool py_is_upper(char32_t cp) {
  if (cp < 0x80) return cp >= 'A' && cp <= 'Z';
  return tokenizer::general_category(cp) == tokenizer::GeneralCategory::kLu;
}

inline bool py_is_alpha(char32_t cp) {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
  return tokenizer::in_categories(cp, tokenizer::kLetterMask);
}

inline bool py_is_decimal(char32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  return tokenizer::general_category(cp) == tokenizer::GeneralCategory::kNd;
}

inline bool py_is_numeric(char32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  return tokenizer::is_numeric(cp);
}

inline bool py_is_alnum(char32_t cp) { return py_is_alpha(cp) || py_is_numeric(cp); }

// A case variant of `cp` (per simple case folding) in the general category `want`, or 0.
inline char32_t case_variant_in(char32_t cp, tokenizer::GeneralCategory want) {
  char32_t found = 0;
  tokenizer::for_each_case_variant(cp, [&](char32_t v) {
    if (found == 0 && tokenizer::general_category(v) == want) found = v;
  });
  return found;
}

inline void append_upper(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>((cp >= 'a' && cp <= 'z') ? cp - 32 : cp));
    return;
  }
  if (cp == 0xDF) {  // ß: the one full uppercase mapping real text meets
    out += "SS";
    return;
  }
  const auto c = tokenizer::general_category(cp);
  if (c == tokenizer::GeneralCategory::kLl || c == tokenizer::GeneralCategory::kLt) {
    const char32_t up = case_variant_in(cp, tokenizer::GeneralCategory::kLu);
    utf8::append(out, up != 0 ? up : cp);
    return;
  }
  utf8::append(out, cp);
}

inline void append_lower(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>((cp >= 'A' && cp <= 'Z') ? cp + 32 : cp));
    return;
  }
  std::vector<char32_t> lowered;
  tokenizer::append_lowercase(cp, lowered);
  for (const char32_t l : lowered) utf8::append(out, l);
}

// The titlecase form of a character (Python uses it for the first letter in title() and
// capitalize()): the Lt variant of a digraph such as ǆ -> ǅ, else the uppercase.
inline void append_title(std::string& out, char32_t cp) {
  if (cp >= 0x80) {
    if (tokenizer::general_category(cp) == tokenizer::GeneralCategory::kLt) {
      utf8::append(out, cp);
      return;
    }
    const char32_t t = case_variant_in(cp, tokenizer::GeneralCategory::kLt);
    if (t != 0) {
      utf8::append(out, t);
      return;
    }
  }
  append_upper(out, cp);
}

inline std::string py_upper(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const utf8::Decoded d = utf8::decode(s, i);
    append_upper(out, d.code_point);
    i += d.length;
  }
  return out;
}

// Case-ignorable characters (approximately Unicode's Case_Ignorable: marks, format
// characters, modifier letters and symbols, and the apostrophes), skipped when deciding whether a
// capital sigma ends a word.
inline bool py_is_case_ignorable(char32_t cp) {
  if (cp == '\'' || cp == 0x2019 || cp == '.' || cp == ':' || cp == '^' || cp == '`' || cp == 0xB7) return true;
  using tokenizer::GeneralCategory;
  switch (tokenizer::general_category(cp)) {
    case GeneralCategory::kMn:
    case GeneralCategory::kMe:
    case GeneralCategory::kCf:
    case GeneralCategory::kLm:
    case GeneralCategory::kSk: return true;
    default: return false;
  }
}

// str.lower(), with Python's Final_Sigma rule: a capital sigma after a cased letter and not
// before one becomes the final form ς.
inline std::string py_lower(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  if (s.find("\xCE\xA3") == std::string_view::npos) {
    for (size_t i = 0; i < s.size();) {
      const utf8::Decoded d = utf8::decode(s, i);
      append_lower(out, d.code_point);
      i += d.length;
    }
    return out;
  }
  const std::vector<char32_t> cps = to_code_points(s);
  for (size_t i = 0; i < cps.size(); ++i) {
    if (cps[i] != 0x3A3) {
      append_lower(out, cps[i]);
      continue;
    }
    size_t before = i;
    while (before > 0 && py_is_case_ignorable(cps[before - 1])) --before;
    size_t after = i + 1;
    while (after < cps.size() && py_is_case_ignorable(cps[after])) ++after;
    const bool final_sigma = before > 0 && py_is_cased(cps[before - 1]) && !(after < cps.size() && py_is_cased(cps[after]));
    utf8::append(out, final_sigma ? char32_t{0x3C2} : char32_t{0x3C3});
  }
  return out;
}

inline std::string py_swapcase(std::string_view s) {
  std::string out;
  for (const char32_t cp : to_code_points(s)) {
    if (py_is_upper(cp)) {
      append_lower(out, cp);
    } else if (py_is_lower(cp)) {
      append_upper(out, cp);
    } else {
      utf8::append(out, cp);
    }
  }
  return out;
}

// str.capitalize(): the first character titlecased, the rest lowercased.
inline std::string py_capitalize(std::string_view s) {
  std::string out;
  bool first = true;
  for (const char32_t cp : to_code_points(s)) {
    if (first) {
      append_title(out, cp);
      first = false;
    } else {
      append_lower(out, cp);
    }
  }
  return out;
}

// str.title(): a cased character after an uncased one is titlecased, after a cased one
// lowercased ("they're" -> "They'Re", as in Python).
inline std::string py_title(std::string_view s) {
  std::string out;
  bool previous_cased = false;
  for (const char32_t cp : to_code_points(s)) {
    if (previous_cased) {
      append_lower(out, cp);
    } else {
      append_title(out, cp);
    }
    previous_cased = py_is_cased(cp);
  }
  return out;
}

// str.strip() / lstrip() / rstrip(): without `chars`, Python whitespace; with `chars`, any of
// its characters.
enum class StripSide { kBoth, kLeft, kRight };

inline std::string py_strip(std::string_view s, StripSide side, const std::string* chars = nullptr) {
  const std::vector<char32_t> set = chars ? to_code_points(*chars) : std::vector<char32_t>{};
  const auto strippable = [&](char32_t cp) {
    if (!chars) return py_isspace(cp);
    for (const char32_t c : set) {
      if (c == cp) return true;
    }
    return false;
  };
  size_t begin = 0;
  size_t end = s.size();
  if (side != StripSide::kRight) {
    while (begin < end) {
      const utf8::Decoded d = utf8::decode(s, begin);
      if (!strippable(d.code_point)) break;
      begin += d.length;
    }
  }
  if (side != StripSide::kLeft) {
    while (end > begin) {
      size_t start = end - 1;
      while (start > begin && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
      const utf8::Decoded d = utf8::decode(s, start);
      if (!strippable(d.code_point)) break;
      end = start;
    }
  }
  return std::string(s.substr(begin, end - begin));
}

// str.split() without a separator: runs of whitespace separate, leading and trailing ones are
// dropped; at most `maxsplit` splits when maxsplit >= 0.
inline std::vector<std::string> py_split_whitespace(std::string_view s, int64_t maxsplit = -1) {
  std::vector<std::string> out;
  const std::vector<char32_t> cps = to_code_points(s);
  size_t i = 0;
  const size_t n = cps.size();
  while (i < n) {
    while (i < n && py_isspace(cps[i])) ++i;
    if (i >= n) break;
    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) >= maxsplit) {
      out.push_back(from_code_points(cps, i, n));  // the rest, trailing whitespace kept
      return out;
    }
    const size_t start = i;
    while (i < n && !py_isspace(cps[i])) ++i;
    out.push_back(from_code_points(cps, start, i));
  }
  return out;
}

// str.split(sep, maxsplit) with a non-empty separator (byte search is exact on UTF-8).
inline std::vector<std::string> py_split(std::string_view s, std::string_view sep, int64_t maxsplit = -1) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) >= maxsplit) break;
    const size_t at = s.find(sep, start);
    if (at == std::string_view::npos) break;
    out.emplace_back(s.substr(start, at - start));
    start = at + sep.size();
  }
  out.emplace_back(s.substr(start));
  return out;
}

// str.rsplit(sep, maxsplit) with a non-empty separator.
inline std::vector<std::string> py_rsplit(std::string_view s, std::string_view sep, int64_t maxsplit = -1) {
  std::vector<std::string> reversed;
  size_t end = s.size();
  while (true) {
    if (maxsplit >= 0 && static_cast<int64_t>(reversed.size()) >= maxsplit) break;
    if (end < sep.size()) break;
    const size_t at = s.rfind(sep, end - sep.size());
    if (at == std::string_view::npos) break;
    reversed.emplace_back(s.substr(at + sep.size(), end - at - sep.size()));
    end = at;
  }
  reversed.emplace_back(s.substr(0, end));
  return {reversed.rbegin(), reversed.rend()};
}

// Python's line boundaries for str.splitlines().
inline bool is_line_boundary(char32_t cp) {
  switch (cp) {
    case '\n': case '\r': case 0x0B: case 0x0C: case 0x1C: case 0x1D: case 0x1E: case 0x85:
    case 0x2028: case 0x2029: return true;
    default: return false;
  }
}

// str.splitlines(keepends): "\r\n" counts as one boundary.
inline std::vector<std::string> py_splitlines(std::string_view s, bool keepends = false) {
  std::vector<std::string> out;
  const std::vector<char32_t> cps = to_code_points(s);
  size_t start = 0;
  size_t i = 0;
  while (i < cps.size()) {
    if (!is_line_boundary(cps[i])) {
      ++i;
      continue;
    }
    size_t eol = i + 1;
    if (cps[i] == '\r' && eol < cps.size() && cps[eol] == '\n') ++eol;
    out.push_back(from_code_points(cps, start, keepends ? eol : i));
    start = i = eol;
  }
  if (start < cps.size()) out.push_back(from_code_points(cps, start, cps.size()));
  return out;
}

// str.replace(old, new, count): an empty `old` inserts `new` around every character.
inline std::string py_replace(std::string_view s, std::string_view old_text, std::string_view new_text,
                              int64_t count = -1) {
  std::string out;
  if (old_text.empty()) {
    const std::vector<char32_t> cps = to_code_points(s);
    int64_t done = 0;
    for (size_t i = 0; i <= cps.size(); ++i) {
      if (count < 0 || done < count) {
        out += new_text;
        ++done;
      }
      if (i < cps.size()) utf8::append(out, cps[i]);
    }
    return out;
  }
  size_t start = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    const size_t at = s.find(old_text, start);
    if (at == std::string_view::npos) break;
    out += s.substr(start, at - start);
    out += new_text;
    start = at + old_text.size();
    ++done;
  }
  out += s.substr(start);
  return out;
}

// markupsafe's escape(): & < > " ' as HTML entities.
inline std::string markup_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

// Python's repr() of a str: single quotes unless the text holds ' and no ", backslash escapes
// for the quote, backslash, \t \n \r, and \xNN / \uNNNN / \UNNNNNNNN for unprintable characters.
inline std::string py_repr_string(std::string_view s) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, quote);
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < s.size();) {
    const utf8::Decoded d = utf8::decode(s, i);
    const char32_t cp = d.code_point;
    if (cp == static_cast<char32_t>(quote) || cp == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(cp));
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (!py_isprintable(cp)) {
      int digits = 0;
      if (cp < 0x100) {
        out += "\\x";
        digits = 2;
      } else if (cp < 0x10000) {
        out += "\\u";
        digits = 4;
      } else {
        out += "\\U";
        digits = 8;
      }
      for (int k = digits - 1; k >= 0; --k) out.push_back(kHex[(cp >> (4 * k)) & 0xF]);
    } else {
      out.append(s.substr(i, d.length));
    }
    i += d.length;
  }
  out.push_back(quote);
  return out;
}

}  // namespace genarm::chat::detail
