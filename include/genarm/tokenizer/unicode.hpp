// Unicode character properties and normalization forms used by the tokenizer.
//
// General categories (for regex \p{..}), White_Space, regex \w, simple case folding (regex
// (?i)), full lowercase mappings, and NFC/NFD/NFKC/NFKD with the original position of every
// output character (so that pre-tokenizers can still tell where a piece started in the input).
// The data comes from tools/unicode/gen_unicode_tables.py (Python's unicodedata; the Unicode
// version is detail::kUnicodeVersion). Hugging Face `tokenizers` uses Rust and Oniguruma tables
// that may be a Unicode version newer: characters assigned since then are classified Cn here.
// Thread-safety: free functions; the lazily built lookup table is initialised thread-safely.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "genarm/core/utf8.hpp"
#include "genarm/tokenizer/detail/unicode_tables.hpp"

namespace genarm::tokenizer {

// Numbering shared with the generated tables.
enum class GeneralCategory : uint8_t {
  kLu, kLl, kLt, kLm, kLo,
  kMn, kMc, kMe,
  kNd, kNl, kNo,
  kPc, kPd, kPs, kPe, kPi, kPf, kPo,
  kSm, kSc, kSk, kSo,
  kZs, kZl, kZp,
  kCc, kCf, kCs, kCo, kCn,
};
inline constexpr int kGeneralCategoryCount = 30;

// Bit masks over GeneralCategory, for "is the category one of these".
using CategoryMask = uint32_t;
inline constexpr CategoryMask category_bit(GeneralCategory c) {
  return CategoryMask{1} << static_cast<int>(c);
}
inline constexpr CategoryMask kLetterMask = 0x1Fu;                 // Lu Ll Lt Lm Lo
inline constexpr CategoryMask kMarkMask = 0x7u << 5;               // Mn Mc Me
inline constexpr CategoryMask kNumberMask = 0x7u << 8;             // Nd Nl No
inline constexpr CategoryMask kPunctuationMask = 0x7Fu << 11;      // Pc .. Po
inline constexpr CategoryMask kSymbolMask = 0xFu << 18;            // Sm Sc Sk So
inline constexpr CategoryMask kSeparatorMask = 0x7u << 22;         // Zs Zl Zp
inline constexpr CategoryMask kOtherMask = 0x1Fu << 25;            // Cc Cf Cs Co Cn

namespace detail {

// Category of every BMP code point (64 KiB), built once from the runs; the astral planes
// use a binary search, they are rare in text.
inline const std::array<uint8_t, 0x10000>& bmp_categories() {
  static const auto table = [] {
    std::array<uint8_t, 0x10000> t{};
    const size_t n = std::size(kCategoryRuns);
    for (size_t i = 0; i < n; ++i) {
      const uint32_t first = kCategoryRuns[i].first;
      if (first >= 0x10000) break;
      const uint32_t end = i + 1 < n ? std::min<uint32_t>(kCategoryRuns[i + 1].first, 0x10000)
                                     : 0x10000;
      std::fill(t.begin() + first, t.begin() + end, kCategoryRuns[i].category);
    }
    return t;
  }();
  return table;
}

inline bool in_ranges(const CodeRange* begin, const CodeRange* end, char32_t cp) {
  const CodeRange* it = std::upper_bound(begin, end, cp, [](char32_t v, const CodeRange& r) {
    return v < r.first;
  });
  return it != begin && cp <= (it - 1)->last;
}

}  // namespace detail

inline GeneralCategory general_category(char32_t cp) {
  if (cp < 0x10000) return static_cast<GeneralCategory>(detail::bmp_categories()[cp]);
  if (cp > utf8::kMaxCodePoint) return GeneralCategory::kCn;
  const auto* begin = std::begin(detail::kCategoryRuns);
  const auto* end = std::end(detail::kCategoryRuns);
  const auto* it = std::upper_bound(begin, end, static_cast<uint32_t>(cp),
                                    [](uint32_t v, const detail::CategoryRun& r) {
                                      return v < r.first;
                                    });
  return static_cast<GeneralCategory>((it - 1)->category);
}

inline bool in_categories(char32_t cp, CategoryMask mask) {
  return (category_bit(general_category(cp)) & mask) != 0;
}

// The White_Space property: regex \s, Rust char::is_whitespace.
inline bool is_white_space(char32_t cp) {
  if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
  return detail::in_ranges(std::begin(detail::kWhiteSpace), std::end(detail::kWhiteSpace), cp);
}

// Rust regex \w (HF's Whitespace pre-tokenizer and added-token single_word checks): Alphabetic,
// marks, decimal digits, connector punctuation and Join_Control (Unicode TR18).
inline bool is_word_char(char32_t cp) {
  constexpr CategoryMask kWord = kLetterMask | kMarkMask | category_bit(GeneralCategory::kNd) |
                                 category_bit(GeneralCategory::kNl) |
                                 category_bit(GeneralCategory::kPc);
  if (in_categories(cp, kWord)) return true;
  return cp >= 0x200C &&
         detail::in_ranges(std::begin(detail::kExtraWord), std::end(detail::kExtraWord), cp);
}

// Oniguruma's \w (and \b) for Unicode text: Letter | Mark | Number | Connector_Punctuation.
// Note the difference from is_word_char: any number (also No, like "½"), and nothing else.
inline bool is_regex_word_char(char32_t cp) {
  return in_categories(cp, kLetterMask | kMarkMask | kNumberMask | category_bit(GeneralCategory::kPc));
}

// Rust char::is_numeric: any number category.
inline bool is_numeric(char32_t cp) { return in_categories(cp, kNumberMask); }

// Hugging Face's punctuation test: ASCII punctuation (which includes symbols like $ + < = > ^ `
// | ~) or any Unicode punctuation category.
inline bool is_punctuation(char32_t cp) {
  if (cp < 0x80) return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) ||
                        (cp >= 0x5B && cp <= 0x60) || (cp >= 0x7B && cp <= 0x7E);
  return in_categories(cp, kPunctuationMask);
}

// Simple case folding (CaseFolding.txt status C+S): the representative two characters share
// when they match case-insensitively.
inline char32_t simple_fold(char32_t cp) {
  if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  const auto* begin = std::begin(detail::kSimpleFold);
  const auto* end = std::end(detail::kSimpleFold);
  const auto* it = std::lower_bound(begin, end, static_cast<uint32_t>(cp),
                                    [](const detail::FoldPair& p, uint32_t v) { return p.from < v; });
  return (it != end && it->from == cp) ? it->to : cp;
}

// Calls fn(c) for every code point c != cp with simple_fold(c) == simple_fold(cp).
template <typename Fn>
void for_each_case_variant(char32_t cp, Fn&& fn) {
  // The inverse of the fold table, built once: pairs (folded, original) sorted by folded.
  static const std::vector<std::pair<uint32_t, uint32_t>> inverse = [] {
    std::vector<std::pair<uint32_t, uint32_t>> v;
    for (const auto& p : detail::kSimpleFold) v.emplace_back(p.to, p.from);
    std::sort(v.begin(), v.end());
    return v;
  }();
  const char32_t folded = simple_fold(cp);
  if (folded != cp) fn(folded);
  auto it = std::lower_bound(inverse.begin(), inverse.end(), std::make_pair(uint32_t{folded}, 0u));
  for (; it != inverse.end() && it->first == folded; ++it) {
    if (it->second != cp) fn(static_cast<char32_t>(it->second));
  }
}

// Appends the full lowercase mapping of cp (Rust char::to_lowercase: one to three code points).
inline void append_lowercase(char32_t cp, std::vector<char32_t>& out) {
  if (cp < 0x80) {
    out.push_back((cp >= 'A' && cp <= 'Z') ? cp + 32 : cp);
    return;
  }
  const auto* begin = std::begin(detail::kLowercase);
  const auto* end = std::end(detail::kLowercase);
  const auto* it = std::lower_bound(begin, end, static_cast<uint32_t>(cp),
                                    [](const detail::MappingRow& r, uint32_t v) { return r.cp < v; });
  if (it == end || it->cp != cp) {
    out.push_back(cp);
    return;
  }
  for (uint32_t i = 0; i < it->length; ++i) out.push_back(detail::kLowercasePool[it->offset + i]);
}

// Canonical combining class (0 for starters).
inline uint8_t combining_class(char32_t cp) {
  if (cp < 0x300) return 0;
  const auto* begin = std::begin(detail::kCombiningClass);
  const auto* end = std::end(detail::kCombiningClass);
  const auto* it = std::upper_bound(begin, end, static_cast<uint32_t>(cp),
                                    [](uint32_t v, const detail::CombiningRange& r) {
                                      return v < r.first;
                                    });
  if (it == begin) return 0;
  --it;
  return cp <= it->last ? it->ccc : 0;
}

enum class NormalizationForm { kNFC, kNFD, kNFKC, kNFKD };

namespace detail {

inline constexpr char32_t kHangulSBase = 0xAC00;
inline constexpr char32_t kHangulLBase = 0x1100;
inline constexpr char32_t kHangulVBase = 0x1161;
inline constexpr char32_t kHangulTBase = 0x11A7;
inline constexpr uint32_t kHangulLCount = 19;
inline constexpr uint32_t kHangulVCount = 21;
inline constexpr uint32_t kHangulTCount = 28;
inline constexpr uint32_t kHangulNCount = kHangulVCount * kHangulTCount;
inline constexpr uint32_t kHangulSCount = kHangulLCount * kHangulNCount;

// Appends the full decomposition of cp (itself when it has none) with `origin` for each output.
inline void decompose(char32_t cp, uint32_t origin, bool compat, std::vector<char32_t>& out,
                      std::vector<uint32_t>& out_origin) {
  if (cp >= kHangulSBase && cp < kHangulSBase + kHangulSCount) {
    const uint32_t s = cp - kHangulSBase;
    out.push_back(kHangulLBase + s / kHangulNCount);
    out.push_back(kHangulVBase + (s % kHangulNCount) / kHangulTCount);
    out_origin.push_back(origin);
    out_origin.push_back(origin);
    if (s % kHangulTCount != 0) {
      out.push_back(kHangulTBase + s % kHangulTCount);
      out_origin.push_back(origin);
    }
    return;
  }
  if (cp >= 0xA0) {
    const auto* begin = std::begin(kDecomposition);
    const auto* end = std::end(kDecomposition);
    const auto* it = std::lower_bound(begin, end, static_cast<uint32_t>(cp),
                                      [](const DecompositionRow& r, uint32_t v) { return r.cp < v; });
    if (it != end && it->cp == cp) {
      const uint32_t offset = compat ? it->compat_offset : it->canonical_offset;
      const uint32_t length = compat ? it->compat_length : it->canonical_length;
      if (length > 0) {
        for (uint32_t i = 0; i < length; ++i) {
          out.push_back(kDecompositionPool[offset + i]);
          out_origin.push_back(origin);
        }
        return;
      }
    }
  }
  out.push_back(cp);
  out_origin.push_back(origin);
}

// The primary composite of (first, second), or 0.
inline char32_t compose_pair(char32_t first, char32_t second) {
  if (first >= kHangulLBase && first < kHangulLBase + kHangulLCount && second >= kHangulVBase &&
      second < kHangulVBase + kHangulVCount) {
    return kHangulSBase + ((first - kHangulLBase) * kHangulVCount + (second - kHangulVBase)) *
                              kHangulTCount;
  }
  if (first >= kHangulSBase && first < kHangulSBase + kHangulSCount &&
      (first - kHangulSBase) % kHangulTCount == 0 && second > kHangulTBase &&
      second < kHangulTBase + kHangulTCount) {
    return first + (second - kHangulTBase);
  }
  const auto* begin = std::begin(kComposition);
  const auto* end = std::end(kComposition);
  const auto* it = std::lower_bound(begin, end, std::make_pair(uint32_t{first}, uint32_t{second}),
                                    [](const CompositionRow& r, std::pair<uint32_t, uint32_t> v) {
                                      return r.first < v.first ||
                                             (r.first == v.first && r.second < v.second);
                                    });
  if (it != end && it->first == first && it->second == second) return it->composite;
  return 0;
}

}  // namespace detail

// Normalizes `in` (code points, each with an original offset) into `out`/`out_origin`, which
// are cleared first. Every output character carries the origin of the input character it came
// from; a composite carries the origin of its starter.
inline void normalize(NormalizationForm form, const std::vector<char32_t>& in,
                      const std::vector<uint32_t>& in_origin, std::vector<char32_t>& out,
                      std::vector<uint32_t>& out_origin) {
  const bool compat = form == NormalizationForm::kNFKC || form == NormalizationForm::kNFKD;
  const bool compose = form == NormalizationForm::kNFC || form == NormalizationForm::kNFKC;
  out.clear();
  out_origin.clear();
  for (size_t i = 0; i < in.size(); ++i) detail::decompose(in[i], in_origin[i], compat, out, out_origin);

  // Canonical ordering: stable sort of each run of non-starters by combining class.
  std::vector<std::pair<uint8_t, size_t>> run;
  for (size_t i = 0; i < out.size();) {
    if (combining_class(out[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < out.size() && combining_class(out[j]) != 0) ++j;
    if (j - i > 1) {
      run.clear();
      for (size_t k = i; k < j; ++k) run.emplace_back(combining_class(out[k]), k);
      std::stable_sort(run.begin(), run.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      std::vector<char32_t> cps;
      std::vector<uint32_t> origins;
      for (const auto& [ccc, k] : run) {
        cps.push_back(out[k]);
        origins.push_back(out_origin[k]);
      }
      std::copy(cps.begin(), cps.end(), out.begin() + static_cast<ptrdiff_t>(i));
      std::copy(origins.begin(), origins.end(), out_origin.begin() + static_cast<ptrdiff_t>(i));
    }
    i = j;
  }
  if (!compose) return;

  // Canonical composition (Unicode 3.11): a character combines with the last starter unless a
  // character in between has class 0 or a class >= its own ("blocked").
  size_t write = 0;
  ptrdiff_t starter = -1;
  int last_class = -1;  // class of the last character kept after the starter, -1 if none
  for (size_t i = 0; i < out.size(); ++i) {
    const char32_t c = out[i];
    const int cc = combining_class(c);
    if (starter >= 0 && last_class < cc) {
      const char32_t composite = detail::compose_pair(out[static_cast<size_t>(starter)], c);
      if (composite != 0) {
        out[static_cast<size_t>(starter)] = composite;
        continue;
      }
    }
    if (cc == 0) {
      starter = static_cast<ptrdiff_t>(write);
      last_class = -1;
    } else {
      last_class = cc;
    }
    out[write] = c;
    out_origin[write] = out_origin[i];
    ++write;
  }
  out.resize(write);
  out_origin.resize(write);
}

// Convenience for UTF-8 text (valid input expected; ill-formed bytes read as U+FFFD).
inline std::string normalize(NormalizationForm form, std::string_view text) {
  std::vector<char32_t> cps;
  std::vector<uint32_t> origins;
  for (size_t i = 0; i < text.size();) {
    const utf8::Decoded d = utf8::decode(text, i);
    cps.push_back(d.code_point);
    origins.push_back(static_cast<uint32_t>(i));
    i += d.length;
  }
  std::vector<char32_t> out;
  std::vector<uint32_t> out_origin;
  normalize(form, cps, origins, out, out_origin);
  std::string result;
  for (char32_t c : out) utf8::append(result, c);
  return result;
}

}  // namespace genarm::tokenizer
