// Pre-tokenizers: cut normalized text into the pieces the model encodes one by one (HF
// `pre_tokenizers`). Supported: ByteLevel (GPT-2 regex, add_prefix_space, use_regex), Split
// (String or Regex pattern, the five delimiter behaviours, invert), Metaspace (replacement,
// prepend_scheme first/always/never, split), Whitespace, WhitespaceSplit, BertPreTokenizer,
// Punctuation, Digits, CharDelimiterSplit and Sequence. Any other type is refused with a
// kUnsupported error naming it.
// Ownership: a pre-tokenizer owns its parameters and compiled regex. Thread-safety: immutable
// after construction, thread-safe; callers pass their own PreTokenizerScratch.
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

// The pattern GPT-2 (and HF ByteLevel with use_regex) splits words with.
inline constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// Working memory reused across pre_tokenize() calls.
struct PreTokenizerScratch {
  PieceList other;
  std::vector<PieceList::Span> spans;
  std::vector<Segment> segments;
  RegexScratch regex;
  std::vector<RegexMatch> matches;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `pieces` by its pre-tokenization.
  virtual void pre_tokenize(PieceList& pieces, PreTokenizerScratch& scratch) const = 0;
  virtual void fingerprint(detail::Hasher& h) const = 0;

  // Convenience for tests and tools: the pieces of `text` (original offsets from 0).
  std::vector<std::string> split_string(std::string_view text) const {
    PieceList pieces;
    pieces.buffer.assign(text, 0);
    pieces.close_piece(0);
    PreTokenizerScratch scratch;
    pre_tokenize(pieces, scratch);
    std::vector<std::string> out;
    for (size_t i = 0; i < pieces.size(); ++i) out.emplace_back(pieces.piece(i));
    return out;
  }
};

namespace detail {

// Segments of `piece` from regex matches (HF Pattern::find_matches for a regex).
inline void regex_segments(const Regex& regex, std::string_view piece, bool invert,
                           PreTokenizerScratch& scratch) {
  scratch.segments.clear();
  scratch.matches.clear();
  regex.find_all_unchecked(piece, scratch.regex, scratch.matches);
  uint32_t prev = 0;
  for (const RegexMatch& m : scratch.matches) {
    if (prev != m.begin) scratch.segments.push_back({prev, static_cast<uint32_t>(m.begin), invert});
    scratch.segments.push_back({static_cast<uint32_t>(m.begin), static_cast<uint32_t>(m.end), !invert});
    prev = static_cast<uint32_t>(m.end);
  }
  if (prev != piece.size()) scratch.segments.push_back({prev, static_cast<uint32_t>(piece.size()), invert});
}

// Segments of `piece` where every character satisfying `pred` is a one-character match (HF
// Pattern for a char predicate).
template <typename Pred>
void char_segments(std::string_view piece, Pred pred, std::vector<Segment>& segments) {
  segments.clear();
  uint32_t last = 0;
  for (uint32_t i = 0; i < piece.size();) {
    uint32_t len = 0;
    const char32_t cp = utf8::decode_valid(piece.data() + i, len);
    if (pred(cp)) {
      if (last < i) segments.push_back({last, i, false});
      segments.push_back({i, i + len, true});
      last = i + len;
    }
    i += len;
  }
  if (last < piece.size()) segments.push_back({last, static_cast<uint32_t>(piece.size()), false});
}

// Re-splits every piece with `segment_fn(piece, segments)` and `behavior`, in place.
template <typename SegmentFn>
void split_pieces(PieceList& pieces, SplitBehavior behavior, PreTokenizerScratch& scratch,
                  SegmentFn segment_fn) {
  scratch.spans.clear();
  for (size_t i = 0; i < pieces.size(); ++i) {
    segment_fn(pieces.piece(i), scratch.segments);
    apply_split_behavior(behavior, scratch.segments, pieces.spans[i].begin, scratch.spans);
  }
  std::swap(pieces.spans, scratch.spans);
}

inline SplitBehavior read_behavior(const io::JsonView& j) {
  const std::string b = j.as_string();
  if (b == "Removed") return SplitBehavior::kRemoved;
  if (b == "Isolated") return SplitBehavior::kIsolated;
  if (b == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (b == "Contiguous") return SplitBehavior::kContiguous;
  j.fail("unknown split behavior '", b, "'");
}

}  // namespace detail

// GPT-2 byte-level pre-tokenization: optional leading space, the GPT-2 regex split, then every
// byte replaced by its printable byte-level character.
class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space), use_regex_(use_regex), regex_(kGpt2Pattern) {}

  void pre_tokenize(PieceList& pieces, PreTokenizerScratch& scratch) const override {
    // 1. Prefix space and regex split, into `other` (pieces stay in the original bytes).
    PieceList& split = scratch.other;
    split.clear();
    for (size_t i = 0; i < pieces.size(); ++i) {
      const size_t begin = split.buffer.size();
      const std::string_view piece = pieces.piece(i);
      if (add_prefix_space_ && !piece.empty() && piece[0] != ' ') {
        split.buffer.append(" ", pieces.piece_origin(i));
      }
      split.buffer.append_range(pieces.buffer, pieces.spans[i].begin, pieces.spans[i].end);
      if (!use_regex_) {
        split.close_piece(begin);
        continue;
      }
      const std::string_view text = std::string_view(split.buffer.text).substr(begin);
      detail::regex_segments(regex_, text, false, scratch);
      apply_split_behavior(SplitBehavior::kIsolated, scratch.segments, static_cast<uint32_t>(begin),
                           split.spans);
    }
    // 2. Byte-level mapping, back into `pieces` (one or two output bytes per input byte).
    const auto& tables = detail::byte_level_tables();
    pieces.clear();
    pieces.buffer.text.reserve(split.buffer.size() * 2);
    pieces.buffer.origin.reserve(split.buffer.size() * 2);
    for (size_t i = 0; i < split.size(); ++i) {
      const size_t begin = pieces.buffer.size();
      for (uint32_t k = split.spans[i].begin; k < split.spans[i].end; ++k) {
        const std::string& mapped = tables.byte_to_utf8[static_cast<unsigned char>(split.buffer.text[k])];
        pieces.buffer.text.append(mapped);
        pieces.buffer.origin.push_back(split.buffer.origin[k]);
        if (mapped.size() == 2) pieces.buffer.origin.push_back(split.buffer.origin[k]);
      }
      pieces.close_piece(begin);
    }
  }
  void fingerprint(detail::Hasher& h) const override {
    h.str("byte_level").boolean(add_prefix_space_).boolean(use_regex_);
  }

 private:
  bool add_prefix_space_;
  bool use_regex_;
  Regex regex_;
};

class SplitPreTokenizer final : public PreTokenizer {
 public:
  SplitPreTokenizer(detail::PatternSpec spec, Regex regex, SplitBehavior behavior, bool invert)
      : spec_(std::move(spec)), regex_(std::move(regex)), behavior_(behavior), invert_(invert) {}

  void pre_tokenize(PieceList& pieces, PreTokenizerScratch& scratch) const override {
    detail::split_pieces(pieces, behavior_, scratch,
                         [&](std::string_view piece, std::vector<Segment>&) {
                           detail::regex_segments(regex_, piece, invert_, scratch);
                         });
  }
  void fingerprint(detail::Hasher& h) const override {
    h.str("split");
    spec_.fingerprint(h);
    h.u64(static_cast<uint64_t>(behavior_)).boolean(invert_);
  }

 private:
  detail::PatternSpec spec_;
  Regex regex_;
  SplitBehavior behavior_;
  bool invert_;
};

enum class PrependScheme { kFirst, kNever, kAlways };

// SentencePiece-style: spaces become the replacement character (default "▁"), which is
// prepended to the first piece of the input ("first") or to every piece ("always"), and the
// text is split before each replacement character.
class MetaspacePreTokenizer final : public PreTokenizer {
 public:
  MetaspacePreTokenizer(char32_t replacement, PrependScheme scheme, bool split)
      : replacement_(replacement), scheme_(scheme), split_(split) {
    utf8::append(replacement_utf8_, replacement_);
  }

  void pre_tokenize(PieceList& pieces, PreTokenizerScratch& scratch) const override {
    PieceList& out = scratch.other;
    out.clear();
    for (size_t i = 0; i < pieces.size(); ++i) {
      const std::string_view piece = pieces.piece(i);
      const uint32_t base = pieces.spans[i].begin;
      const size_t begin = out.buffer.size();
      // HF replaces spaces first, then decides on the prefix from the replaced text.
      const bool starts_with_replacement =
          piece.substr(0, replacement_utf8_.size()) == replacement_utf8_ ||
          (!piece.empty() && piece[0] == ' ' && replacement_ != ' ');
      const bool prepend =
          !starts_with_replacement && !piece.empty() &&
          (scheme_ == PrependScheme::kAlways ||
           (scheme_ == PrependScheme::kFirst && pieces.piece_origin(i) == 0));
      if (prepend) out.buffer.append(replacement_utf8_, pieces.piece_origin(i));
      for (uint32_t k = 0; k < piece.size(); ++k) {
        if (piece[k] == ' ') {
          out.buffer.append(replacement_utf8_, pieces.buffer.origin[base + k]);
        } else {
          out.buffer.append_range(pieces.buffer, base + k, base + k + 1);
        }
      }
      if (!split_) {
        out.close_piece(begin);
        continue;
      }
      const std::string_view text = std::string_view(out.buffer.text).substr(begin);
      detail::char_segments(text, [&](char32_t c) { return c == replacement_; }, scratch.segments);
      apply_split_behavior(SplitBehavior::kMergedWithNext, scratch.segments,
                           static_cast<uint32_t>(begin), out.spans);
    }
    std::swap(pieces, out);
  }
  void fingerprint(detail::Hasher& h) const override {
    h.str("metaspace").u64(replacement_).u64(static_cast<uint64_t>(scheme_)).boolean(split_);
  }

 private:
  char32_t replacement_;
  std::string replacement_utf8_;
  PrependScheme scheme_;
  bool split_;
};

// HF Whitespace: the pieces are the matches of \w+|[^\w\s]+ (whitespace is dropped).
class WhitespacePreTokenizer final : public PreTokenizer {
 public:
  void pre_tokenize(PieceList& pieces, PreTokenizerScratch& scratch) const override {
    scratch.spans.clear();
    for (size_t p = 0; p < pieces.size(); ++p) {
      const std::string_view piece = pieces.piece(p);
      const uint32_t base = pieces.spans[p].begin;
      // 0: whitespace, 1: word, 2: other; a piece is a maximal run of class 1 or 2.
      auto kind = [](char32_t c) { return is_word_char(c) ? 1 : is_white_space(c) ? 0 : 2; };
      uint32_t run_begin = 0;
      int run_kind = -1;
      for (uint32_t i = 0; i < piece.size();) {
        uint32_t len = 0;
        const int k = kind(utf8::decode_valid(piece.data() + i, len));
        if (k != run_kind) {
          if (run_kind > 0) scratch.spans.push_back({base + run_begin, base + i});
          run_begin = i;
          run_kind = k;
        }
        i += len;
      }
      if (run_kind > 0) scratch.spans.push_back({base + run_begin, base + static_cast<uint32_t>(piece.size())});
    }
    std::swap(pieces.spans, scratch.spans);
  }
  void fingerprint(detail::Hasher& h) const override { h.str("whitespace"); }
};

// Splits on a character predicate with a delimiter behaviour (WhitespaceSplit, Punctuation,
// Digits, CharDelimiterSplit, BertPreTokenizer).
class CharSplitPreTokenizer final : public PreTokenizer {
 public:
  enum class Kind { kWhitespace, kPunctuation, kDigits, kDelimiter, kBert };
  CharSplitPreTokenizer(Kind kind, SplitBehavior behavior, char32_t delimiter = 0)
      : kind_(kind), behavior_(behavior), delimiter_(delimiter) {}

  void pre_tokenize(PieceList& pieces, PreTokenizerScratch& scratch) const override {
    auto by = [&](auto pred, SplitBehavior behavior) {
      detail::split_pieces(pieces, behavior, scratch,
                           [&](std::string_view piece, std::vector<Segment>& segments) {
                             detail::char_segments(piece, pred, segments);
                           });
    };
    switch (kind_) {
      case Kind::kWhitespace: by([](char32_t c) { return is_white_space(c); }, behavior_); break;
      case Kind::kPunctuation: by([](char32_t c) { return is_punctuation(c); }, behavior_); break;
      case Kind::kDigits: by([](char32_t c) { return is_numeric(c); }, behavior_); break;
      case Kind::kDelimiter: by([&](char32_t c) { return c == delimiter_; }, behavior_); break;
      case Kind::kBert:
        by([](char32_t c) { return is_white_space(c); }, SplitBehavior::kRemoved);
        by([](char32_t c) { return is_punctuation(c); }, SplitBehavior::kIsolated);
        break;
    }
  }
  void fingerprint(detail::Hasher& h) const override {
    h.str("char_split").u64(static_cast<uint64_t>(kind_)).u64(static_cast<uint64_t>(behavior_)).u64(delimiter_);
  }

 private:
  Kind kind_;
  SplitBehavior behavior_;
  char32_t delimiter_;
};

class SequencePreTokenizer final : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> children)
      : children_(std::move(children)) {}
  void pre_tokenize(PieceList& pieces, PreTokenizerScratch& scratch) const override {
    for (const auto& child : children_) child->pre_tokenize(pieces, scratch);
  }
  void fingerprint(detail::Hasher& h) const override {
    h.str("sequence").u64(children_.size());
    for (const auto& child : children_) child->fingerprint(h);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> children_;
};

namespace detail {

inline char32_t read_single_char(const io::JsonView& j) {
  const std::string s = j.as_string();
  if (s.empty()) j.fail("expected a single character, got an empty string");
  const utf8::Decoded d = utf8::decode(s, 0);
  if (!d.valid || d.length != s.size()) j.fail("expected a single character, got '", s, "'");
  return d.code_point;
}

// Metaspace's prepend_scheme, with the legacy add_prefix_space spelling.
inline PrependScheme read_prepend_scheme(const io::JsonView& j) {
  std::optional<PrependScheme> scheme;
  if (const auto s = j.find("prepend_scheme")) {
    const std::string v = s->as_string();
    if (v == "first") scheme = PrependScheme::kFirst;
    else if (v == "never") scheme = PrependScheme::kNever;
    else if (v == "always") scheme = PrependScheme::kAlways;
    else s->fail("unknown prepend_scheme '", v, "' (expected first, never or always)");
  }
  if (const auto a = j.find("add_prefix_space")) {
    const bool add = a->as_bool();
    if (!add) {
      if (scheme && *scheme != PrependScheme::kNever) {
        a->fail("add_prefix_space false contradicts prepend_scheme");
      }
      scheme = PrependScheme::kNever;
    }
  }
  return scheme.value_or(PrependScheme::kAlways);
}

}  // namespace detail

inline std::unique_ptr<PreTokenizer> make_pre_tokenizer(const io::JsonView& j) {
  j.expect_object();
  const std::string type = j.type();
  using Kind = CharSplitPreTokenizer::Kind;
  if (type == "Sequence") {
    const io::JsonView list = j.at("pretokenizers");
    std::vector<std::unique_ptr<PreTokenizer>> children;
    for (size_t i = 0; i < list.size(); ++i) children.push_back(make_pre_tokenizer(list.at(i)));
    return std::make_unique<SequencePreTokenizer>(std::move(children));
  }
  if (type == "ByteLevel") {
    return std::make_unique<ByteLevelPreTokenizer>(j.get_bool("add_prefix_space", true),
                                                   j.get_bool("use_regex", true));
  }
  if (type == "Split") {
    const io::JsonView pattern = j.at("pattern");
    detail::PatternSpec spec = detail::read_pattern(pattern);
    Regex regex = detail::compile_pattern(spec, pattern);
    const SplitBehavior behavior = detail::read_behavior(j.at("behavior"));
    return std::make_unique<SplitPreTokenizer>(std::move(spec), std::move(regex), behavior,
                                               j.get_bool("invert", false));
  }
  if (type == "Metaspace") {
    const char32_t replacement = detail::read_single_char(j.at("replacement"));
    return std::make_unique<MetaspacePreTokenizer>(replacement, detail::read_prepend_scheme(j),
                                                   j.get_bool("split", true));
  }
  if (type == "Whitespace") return std::make_unique<WhitespacePreTokenizer>();
  if (type == "WhitespaceSplit") {
    return std::make_unique<CharSplitPreTokenizer>(Kind::kWhitespace, SplitBehavior::kRemoved);
  }
  if (type == "BertPreTokenizer") {
    return std::make_unique<CharSplitPreTokenizer>(Kind::kBert, SplitBehavior::kRemoved);
  }
  if (type == "Punctuation") {
    const auto b = j.find("behavior");
    return std::make_unique<CharSplitPreTokenizer>(
        Kind::kPunctuation, b ? detail::read_behavior(*b) : SplitBehavior::kIsolated);
  }
  if (type == "Digits") {
    return std::make_unique<CharSplitPreTokenizer>(
        Kind::kDigits, j.get_bool("individual_digits", false) ? SplitBehavior::kIsolated
                                                               : SplitBehavior::kContiguous);
  }
  if (type == "CharDelimiterSplit") {
    return std::make_unique<CharSplitPreTokenizer>(Kind::kDelimiter, SplitBehavior::kRemoved,
                                                   detail::read_single_char(j.at("delimiter")));
  }
  j.unsupported("unsupported pre-tokenizer type '", type, "'");
}

}  // namespace genarm::tokenizer
