// Text on its way from the input string to the model: the normalized bytes, where each byte
// came from in the original input, and the pieces (byte spans) the pre-tokenizers cut it into.
//
// Hugging Face keeps a full alignment table per NormalizedString; the only thing any component
// reads from it when producing ids is the original start offset of a piece (Metaspace with
// prepend_scheme "first" prepends only to the piece that starts the input). So a byte here
// carries just the original offset of the character it came from: inserted characters take the
// offset of the character they were attached to, as in HF.
// Ownership: plain value types. Thread-safety: not thread-safe (per-call working data).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "genarm/core/utf8.hpp"

namespace genarm::tokenizer {

// A normalized string: UTF-8 text plus, for each byte, the original offset of its character.
struct NormalizedString {
  std::string text;
  std::vector<uint32_t> origin;

  void clear() {
    text.clear();
    origin.clear();
  }
  // Sets the text to `s`, which starts at original offset `base`.
  void assign(std::string_view s, uint32_t base) {
    text.assign(s);
    origin.resize(s.size());
    for (size_t i = 0; i < s.size(); ++i) origin[i] = base + static_cast<uint32_t>(i);
  }
  // Appends `bytes`, all attributed to original offset `from`.
  void append(std::string_view bytes, uint32_t from) {
    text.append(bytes);
    origin.insert(origin.end(), bytes.size(), from);
  }
  void append(char32_t cp, uint32_t from) {
    const size_t before = text.size();
    utf8::append(text, cp);
    origin.insert(origin.end(), text.size() - before, from);
  }
  // Appends bytes [begin, end) of `other` with their origins.
  void append_range(const NormalizedString& other, size_t begin, size_t end) {
    text.append(other.text, begin, end - begin);
    origin.insert(origin.end(), other.origin.begin() + static_cast<ptrdiff_t>(begin),
                  other.origin.begin() + static_cast<ptrdiff_t>(end));
  }
  size_t size() const { return text.size(); }
  bool empty() const { return text.empty(); }
};

// A NormalizedString cut into pieces; pieces are byte spans of `buffer` in order.
struct PieceList {
  struct Span {
    uint32_t begin;
    uint32_t end;
  };
  NormalizedString buffer;
  std::vector<Span> spans;

  void clear() {
    buffer.clear();
    spans.clear();
  }
  size_t size() const { return spans.size(); }
  std::string_view piece(size_t i) const {
    return std::string_view(buffer.text).substr(spans[i].begin, spans[i].end - spans[i].begin);
  }
  // Original offset of the first character of piece i.
  uint32_t piece_origin(size_t i) const { return buffer.origin[spans[i].begin]; }
  // Closes a piece spanning from `begin` to the current end of the buffer (skipped if empty).
  void close_piece(size_t begin) {
    if (buffer.size() > begin) {
      spans.push_back({static_cast<uint32_t>(begin), static_cast<uint32_t>(buffer.size())});
    }
  }
};

// How a split keeps the delimiters (HF SplitDelimiterBehavior).
enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// A segment of a piece produced by a pattern: relative byte offsets and whether it matched.
struct Segment {
  uint32_t begin;
  uint32_t end;
  bool is_match;
};

// Applies `behavior` to `segments` (contiguous, covering a piece that starts at byte `base` of
// the buffer) and appends the resulting non-empty spans to `out`. Mirrors HF
// NormalizedString::split, including its treatment of runs of consecutive matches.
inline void apply_split_behavior(SplitBehavior behavior, std::vector<Segment>& segments,
                                 uint32_t base, std::vector<PieceList::Span>& out) {
  auto emit = [&](uint32_t b, uint32_t e) {
    if (e > b) out.push_back({base + b, base + e});
  };
  switch (behavior) {
    case SplitBehavior::kIsolated:
      for (const Segment& s : segments) emit(s.begin, s.end);
      return;
    case SplitBehavior::kRemoved:
      for (const Segment& s : segments) {
        if (!s.is_match) emit(s.begin, s.end);
      }
      return;
    case SplitBehavior::kContiguous:
    case SplitBehavior::kMergedWithPrevious: {
      // Fold left: a segment joins the previous kept one when both are matches (Contiguous:
      // same kind) or when it is a match following a non-match (MergedWithPrevious).
      bool previous_match = false;
      bool any = false;
      uint32_t cur_b = 0, cur_e = 0;
      for (const Segment& s : segments) {
        const bool join = behavior == SplitBehavior::kContiguous ? s.is_match == previous_match
                                                                 : s.is_match && !previous_match;
        if (join && any) {
          cur_e = s.end;
        } else {
          if (any) emit(cur_b, cur_e);
          cur_b = s.begin;
          cur_e = s.end;
          any = true;
        }
        previous_match = s.is_match;
      }
      if (any) emit(cur_b, cur_e);
      return;
    }
    case SplitBehavior::kMergedWithNext: {
      // Fold right: a match joins the following kept segment unless that one is a match too.
      const size_t first = out.size();
      bool previous_match = false;
      bool any = false;
      uint32_t cur_b = 0, cur_e = 0;
      for (size_t k = segments.size(); k-- > 0;) {
        const Segment& s = segments[k];
        if (s.is_match && !previous_match && any) {
          cur_b = s.begin;
        } else {
          if (any) emit(cur_b, cur_e);
          cur_b = s.begin;
          cur_e = s.end;
          any = true;
        }
        previous_match = s.is_match;
      }
      if (any) emit(cur_b, cur_e);
      std::reverse(out.begin() + static_cast<ptrdiff_t>(first), out.end());
      return;
    }
  }
}

}  // namespace genarm::tokenizer
