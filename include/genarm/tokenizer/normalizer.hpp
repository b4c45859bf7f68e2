// Normalizers: the first stage of encoding, rewriting text before it is split (HF
// `normalizers`). Supported: Sequence, NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents,
// Prepend, Append, Replace (String or Regex pattern) and ByteLevel. Any other type in
// tokenizer.json (BertNormalizer, Precompiled, Nmt, ...) is refused with a kUnsupported error
// naming it, rather than being skipped.
// Every output character keeps the original offset of the character it came from (see
// pieces.hpp).
// Ownership: a normalizer owns its parameters (and children, for Sequence). Thread-safety:
// immutable after construction, thread-safe; callers pass their own NormalizerScratch.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "genarm/core/error.hpp"
#include "genarm/core/utf8.hpp"
#include "genarm/io/json.hpp"
#include "genarm/tokenizer/detail/byte_level.hpp"
#include "genarm/tokenizer/detail/hash.hpp"
#include "genarm/tokenizer/detail/pattern.hpp"
#include "genarm/tokenizer/pieces.hpp"
#include "genarm/tokenizer/regex.hpp"
#include "genarm/tokenizer/unicode.hpp"

namespace genarm::tokenizer {

// Working memory reused across normalize() calls.
struct NormalizerScratch {
  NormalizedString out;
  std::vector<char32_t> cps, cps_out;
  std::vector<uint32_t> origins, origins_out;
  RegexScratch regex;
  std::vector<RegexMatch> matches;
};

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // Rewrites `s` in place.
  virtual void normalize(NormalizedString& s, NormalizerScratch& scratch) const = 0;
  // Feeds the type and every parameter into `h` (Tokenizer::fingerprint).
  virtual void fingerprint(detail::Hasher& h) const = 0;

  // Convenience for tests and tools: normalizes `text` (original offsets from 0).
  std::string normalize_string(std::string_view text) const {
    NormalizedString s;
    s.assign(text, 0);
    NormalizerScratch scratch;
    normalize(s, scratch);
    return s.text;
  }
};

namespace detail {

// Decodes s into code points with the origin of each.
inline void decode_with_origins(const NormalizedString& s, std::vector<char32_t>& cps,
                                std::vector<uint32_t>& origins) {
  cps.clear();
  origins.clear();
  for (size_t i = 0; i < s.text.size();) {
    uint32_t len = 0;
    cps.push_back(utf8::decode_valid(s.text.data() + i, len));
    origins.push_back(s.origin[i]);
    i += len;
  }
}

inline void encode_with_origins(const std::vector<char32_t>& cps,
                                const std::vector<uint32_t>& origins, NormalizedString& out) {
  out.clear();
  for (size_t i = 0; i < cps.size(); ++i) out.append(cps[i], origins[i]);
}

inline bool is_ascii(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

}  // namespace detail

class UnicodeNormalizer final : public Normalizer {
 public:
  explicit UnicodeNormalizer(NormalizationForm form) : form_(form) {}
  void normalize(NormalizedString& s, NormalizerScratch& scratch) const override {
    if (detail::is_ascii(s.text)) return;  // ASCII is invariant under every form
    detail::decode_with_origins(s, scratch.cps, scratch.origins);
    tokenizer::normalize(form_, scratch.cps, scratch.origins, scratch.cps_out, scratch.origins_out);
    detail::encode_with_origins(scratch.cps_out, scratch.origins_out, scratch.out);
    std::swap(s, scratch.out);
  }
  void fingerprint(detail::Hasher& h) const override {
    h.str("unicode").u64(static_cast<uint64_t>(form_));
  }

 private:
  NormalizationForm form_;
};

class LowercaseNormalizer final : public Normalizer {
 public:
  void normalize(NormalizedString& s, NormalizerScratch& scratch) const override {
    if (detail::is_ascii(s.text)) {
      for (char& c : s.text) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
      }
      return;
    }
    detail::decode_with_origins(s, scratch.cps, scratch.origins);
    scratch.cps_out.clear();
    scratch.origins_out.clear();
    for (size_t i = 0; i < scratch.cps.size(); ++i) {
      const size_t before = scratch.cps_out.size();
      append_lowercase(scratch.cps[i], scratch.cps_out);
      scratch.origins_out.insert(scratch.origins_out.end(), scratch.cps_out.size() - before,
                                 scratch.origins[i]);
    }
    detail::encode_with_origins(scratch.cps_out, scratch.origins_out, scratch.out);
    std::swap(s, scratch.out);
  }
  void fingerprint(detail::Hasher& h) const override { h.str("lowercase"); }
};

// Removes leading and/or trailing White_Space.
class StripNormalizer final : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  void normalize(NormalizedString& s, NormalizerScratch&) const override {
    size_t begin = 0;
    size_t end = s.text.size();
    if (left_) {
      while (begin < end) {
        uint32_t len = 0;
        if (!is_white_space(utf8::decode_valid(s.text.data() + begin, len))) break;
        begin += len;
      }
    }
    if (right_) {
      while (end > begin) {
        size_t p = end - 1;
        while (p > begin && (static_cast<unsigned char>(s.text[p]) & 0xC0) == 0x80) --p;
        uint32_t len = 0;
        if (!is_white_space(utf8::decode_valid(s.text.data() + p, len))) break;
        end = p;
      }
    }
    if (begin == 0 && end == s.text.size()) return;
    s.text = s.text.substr(begin, end - begin);
    s.origin.erase(s.origin.begin() + static_cast<ptrdiff_t>(end), s.origin.end());
    s.origin.erase(s.origin.begin(), s.origin.begin() + static_cast<ptrdiff_t>(begin));
  }
  void fingerprint(detail::Hasher& h) const override { h.str("strip").boolean(left_).boolean(right_); }

 private:
  bool left_, right_;
};

// Removes combining marks (general category M), as HF StripAccents does (usually after NFD).
class StripAccentsNormalizer final : public Normalizer {
 public:
  void normalize(NormalizedString& s, NormalizerScratch& scratch) const override {
    if (detail::is_ascii(s.text)) return;
    scratch.out.clear();
    for (size_t i = 0; i < s.text.size();) {
      uint32_t len = 0;
      const char32_t cp = utf8::decode_valid(s.text.data() + i, len);
      if (!in_categories(cp, kMarkMask)) scratch.out.append_range(s, i, i + len);
      i += len;
    }
    std::swap(s, scratch.out);
  }
  void fingerprint(detail::Hasher& h) const override { h.str("strip_accents"); }
};

// Prepends a string to non-empty text (the Llama-2 "▁" normalizer).
class PrependNormalizer final : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prepend) : prepend_(std::move(prepend)) {}
  void normalize(NormalizedString& s, NormalizerScratch& scratch) const override {
    if (s.empty() || prepend_.empty()) return;
    scratch.out.clear();
    scratch.out.append(prepend_, s.origin[0]);
    scratch.out.append_range(s, 0, s.size());
    std::swap(s, scratch.out);
  }
  void fingerprint(detail::Hasher& h) const override { h.str("prepend").str(prepend_); }

 private:
  std::string prepend_;
};

class AppendNormalizer final : public Normalizer {
 public:
  explicit AppendNormalizer(std::string append) : append_(std::move(append)) {}
  void normalize(NormalizedString& s, NormalizerScratch&) const override {
    if (s.empty()) return;
    const uint32_t last = s.origin.back();
    s.append(append_, last);
  }
  void fingerprint(detail::Hasher& h) const override { h.str("append").str(append_); }

 private:
  std::string append_;
};

// Replaces every match of a pattern with `content`. Inserted characters take the original
// offset of the last character they replace, as in HF.
class ReplaceNormalizer final : public Normalizer {
 public:
  ReplaceNormalizer(detail::PatternSpec spec, Regex regex, std::string content)
      : spec_(std::move(spec)), regex_(std::move(regex)), content_(std::move(content)) {}
  void normalize(NormalizedString& s, NormalizerScratch& scratch) const override {
    if (s.empty()) return;
    scratch.matches.clear();
    regex_.find_all_unchecked(s.text, scratch.regex, scratch.matches);
    if (scratch.matches.empty()) return;
    scratch.out.clear();
    size_t prev = 0;
    for (const RegexMatch& m : scratch.matches) {
      scratch.out.append_range(s, prev, m.begin);
      const uint32_t from = m.end > 0 ? s.origin[m.end - 1] : s.origin[0];
      scratch.out.append(content_, from);
      prev = m.end;
    }
    scratch.out.append_range(s, prev, s.size());
    std::swap(s, scratch.out);
  }
  void fingerprint(detail::Hasher& h) const override {
    h.str("replace");
    spec_.fingerprint(h);
    h.str(content_);
  }

 private:
  detail::PatternSpec spec_;
  Regex regex_;
  std::string content_;
};

// Maps every byte to its GPT-2 byte-level character.
class ByteLevelNormalizer final : public Normalizer {
 public:
  void normalize(NormalizedString& s, NormalizerScratch& scratch) const override {
    const auto& tables = detail::byte_level_tables();
    scratch.out.clear();
    for (size_t i = 0; i < s.size(); ++i) {
      scratch.out.append(tables.byte_to_utf8[static_cast<unsigned char>(s.text[i])], s.origin[i]);
    }
    std::swap(s, scratch.out);
  }
  void fingerprint(detail::Hasher& h) const override { h.str("byte_level"); }
};

class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> children)
      : children_(std::move(children)) {}
  void normalize(NormalizedString& s, NormalizerScratch& scratch) const override {
    for (const auto& child : children_) child->normalize(s, scratch);
  }
  void fingerprint(detail::Hasher& h) const override {
    h.str("sequence").u64(children_.size());
    for (const auto& child : children_) child->fingerprint(h);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> children_;
};

// Builds the normalizer described by `j` (a non-null JSON object).
inline std::unique_ptr<Normalizer> make_normalizer(const io::JsonView& j) {
  j.expect_object();
  const std::string type = j.type();
  if (type == "Sequence") {
    const io::JsonView list = j.at("normalizers");
    std::vector<std::unique_ptr<Normalizer>> children;
    for (size_t i = 0; i < list.size(); ++i) children.push_back(make_normalizer(list.at(i)));
    return std::make_unique<SequenceNormalizer>(std::move(children));
  }
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(NormalizationForm::kNFC);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(NormalizationForm::kNFD);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(NormalizationForm::kNFKC);
  if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(NormalizationForm::kNFKD);
  if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
  if (type == "Strip") {
    return std::make_unique<StripNormalizer>(j.get_bool("strip_left", true),
                                             j.get_bool("strip_right", true));
  }
  if (type == "StripAccents") return std::make_unique<StripAccentsNormalizer>();
  if (type == "Prepend") return std::make_unique<PrependNormalizer>(j.at("prepend").as_string());
  if (type == "Append") return std::make_unique<AppendNormalizer>(j.at("append").as_string());
  if (type == "Replace") {
    const io::JsonView pattern = j.at("pattern");
    detail::PatternSpec spec = detail::read_pattern(pattern);
    std::string content = j.at("content").as_string();
    detail::check_replace_content(spec, content, j);
    Regex regex = detail::compile_pattern(spec, pattern);
    return std::make_unique<ReplaceNormalizer>(std::move(spec), std::move(regex), std::move(content));
  }
  if (type == "ByteLevel") return std::make_unique<ByteLevelNormalizer>();
  j.unsupported("unsupported normalizer type '", type, "'");
}

}  // namespace genarm::tokenizer
