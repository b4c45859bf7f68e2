// Added tokens (tokenizer.json "added_tokens"): special tokens like "<s>" and
// "<|endoftext|>" and user-added tokens, matched in the text *before* the model runs, like HF's
// AddedVocabulary. Tokens with normalized=false are matched in the raw input; those with
// normalized=true in the normalized text, against their normalized content. Matching is
// leftmost-longest (HF uses an Aho-Corasick automaton with MatchKind::LeftmostLongest);
// `single_word` rejects a match touching a word character on either side, `lstrip` / `rstrip`
// swallow the whitespace to the left / right of the match into the token.
// Ownership: owns the tokens and their match tries. Thread-safety: immutable, thread-safe.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "genarm/core/error.hpp"
#include "genarm/core/utf8.hpp"
#include "genarm/io/json.hpp"
#include "genarm/tokenizer/detail/hash.hpp"
#include "genarm/tokenizer/unicode.hpp"

namespace genarm::tokenizer {

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
};

// A split of a text by added tokens: [begin, end) bytes, and the token id or -1 for plain text.
struct AddedSplit {
  size_t begin;
  size_t end;
  int32_t id;
};

namespace detail {

// Byte trie for leftmost-longest multi-pattern search.
class Trie {
 public:
  Trie() { nodes_.emplace_back(); }

  void insert(std::string_view pattern, int32_t value) {
    if (pattern.empty()) return;
    uint32_t node = 0;
    for (char c : pattern) {
      const auto b = static_cast<unsigned char>(c);
      auto& children = nodes_[node].children;
      const auto it = children.find(b);
      if (it != children.end()) {
        node = it->second;
      } else {
        nodes_.emplace_back();
        const auto child = static_cast<uint32_t>(nodes_.size() - 1);
        nodes_[node].children.emplace(b, child);
        node = child;
      }
    }
    if (nodes_[node].value < 0) nodes_[node].value = value;  // the first token with a content wins
    first_bytes_[static_cast<unsigned char>(pattern[0])] = true;
    empty_ = false;
  }

  bool empty() const { return empty_; }

  // The leftmost match at or after `from`, longest among those starting there: (begin, end,
  // value).
  std::optional<std::tuple<size_t, size_t, int32_t>> find(std::string_view text, size_t from) const {
    if (empty_) return std::nullopt;
    for (size_t start = from; start < text.size(); ++start) {
      if (!first_bytes_[static_cast<unsigned char>(text[start])]) continue;
      uint32_t node = 0;
      size_t best_end = 0;
      int32_t best = -1;
      for (size_t i = start; i < text.size(); ++i) {
        const auto& children = nodes_[node].children;
        const auto it = children.find(static_cast<unsigned char>(text[i]));
        if (it == children.end()) break;
        node = it->second;
        if (nodes_[node].value >= 0) {
          best = nodes_[node].value;
          best_end = i + 1;
        }
      }
      if (best >= 0) return std::make_tuple(start, best_end, best);
    }
    return std::nullopt;
  }

 private:
  struct Node {
    std::map<unsigned char, uint32_t> children;
    int32_t value = -1;
  };
  std::vector<Node> nodes_;
  std::array<bool, 256> first_bytes_{};
  bool empty_ = true;
};

inline bool ends_with_word_char(std::string_view s) {
  if (s.empty()) return false;
  size_t p = s.size() - 1;
  while (p > 0 && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80) --p;
  uint32_t len = 0;
  return is_word_char(utf8::decode_valid(s.data() + p, len));
}
inline bool starts_with_word_char(std::string_view s) {
  if (s.empty()) return false;
  uint32_t len = 0;
  return is_word_char(utf8::decode_valid(s.data(), len));
}

}  // namespace detail

class AddedVocabulary {
 public:
  AddedVocabulary() = default;

  // `tokens` as listed in tokenizer.json; `normalize` maps a normalized=true token's content to
  // the form it takes in normalized text (the tokenizer's normalizer, or identity).
  AddedVocabulary(std::vector<AddedToken> tokens,
                  const std::function<std::string(std::string_view)>& normalize)
      : tokens_(std::move(tokens)) {
    for (size_t i = 0; i < tokens_.size(); ++i) {
      const AddedToken& t = tokens_[i];
      if (t.content.empty()) continue;  // HF ignores empty added tokens
      by_content_.emplace(t.content, i);
      if (t.special) special_contents_.push_back(t.content);
      if (t.normalized) {
        normalized_trie_.insert(normalize(t.content), static_cast<int32_t>(i));
      } else {
        raw_trie_.insert(t.content, static_cast<int32_t>(i));
      }
    }
    std::sort(special_contents_.begin(), special_contents_.end());
  }

  static AddedVocabulary from_json(const io::JsonView& list, int64_t max_id,
                                   const std::function<std::string(std::string_view)>& normalize) {
    std::vector<AddedToken> tokens;
    for (size_t i = 0; i < list.size(); ++i) {
      const io::JsonView j = list.at(i);
      j.expect_object();
      AddedToken t;
      t.id = static_cast<int32_t>(j.at("id").as_int(0, max_id));
      t.content = j.at("content").as_string();
      t.single_word = j.get_bool("single_word", false);
      t.lstrip = j.get_bool("lstrip", false);
      t.rstrip = j.get_bool("rstrip", false);
      t.normalized = j.get_bool("normalized", !j.get_bool("special", false));
      t.special = j.get_bool("special", false);
      tokens.push_back(std::move(t));
    }
    return AddedVocabulary(std::move(tokens), normalize);
  }

  const std::vector<AddedToken>& tokens() const { return tokens_; }
  bool has_normalized_tokens() const { return !normalized_trie_.empty(); }

  const AddedToken* find(std::string_view content) const {
    const auto it = by_content_.find(content);
    return it == by_content_.end() ? nullptr : &tokens_[it->second];
  }
  // HF decides "skip when decoding" by the token *string*: any token whose text is the content
  // of a special added token.
  bool is_special_content(std::string_view s) const {
    return std::binary_search(special_contents_.begin(), special_contents_.end(), s,
                              [](std::string_view a, std::string_view b) { return a < b; });
  }

  // Splits `text` by the raw-content (normalized=false) or the normalized-content tokens, like
  // HF AddedVocabulary::find_matches. The splits cover `text` in order; appended to `out`.
  void split(std::string_view text, bool normalized, std::vector<AddedSplit>& out) const {
    const detail::Trie& trie = normalized ? normalized_trie_ : raw_trie_;
    size_t start_offset = 0;
    size_t search_from = 0;
    while (true) {
      const auto m = trie.find(text, search_from);
      if (!m) break;
      auto [start, stop, index] = *m;
      search_from = stop;  // the automaton resumes after the match, whatever we do with it
      const AddedToken& token = tokens_[static_cast<size_t>(index)];
      if (token.single_word) {
        const bool start_space = start == 0 || !detail::ends_with_word_char(text.substr(0, start));
        const bool stop_space = stop == text.size() || !detail::starts_with_word_char(text.substr(stop));
        if (!start_space || !stop_space) continue;
      }
      if (token.lstrip) {
        // Back over the whitespace before the match, but not into the previous split.
        size_t s = start;
        while (s > start_offset) {
          size_t p = s - 1;
          while (p > 0 && (static_cast<unsigned char>(text[p]) & 0xC0) == 0x80) --p;
          uint32_t len = 0;
          if (!is_white_space(utf8::decode_valid(text.data() + p, len))) break;
          s = p;
        }
        start = s;
      }
      if (token.rstrip) {
        while (stop < text.size()) {
          uint32_t len = 0;
          if (!is_white_space(utf8::decode_valid(text.data() + stop, len))) break;
          stop += len;
        }
      }
      // A match inside whitespace swallowed by the previous rstrip cannot overlap it.
      if (start < start_offset) {
        if (stop <= start_offset) continue;
        start = start_offset;
      }
      if (start_offset < start) out.push_back({start_offset, start, -1});
      out.push_back({start, stop, token.id});
      start_offset = stop;
    }
    if (start_offset < text.size() || text.empty()) out.push_back({start_offset, text.size(), -1});
  }

  void fingerprint(detail::Hasher& h) const {
    h.str("added").u64(tokens_.size());
    for (const AddedToken& t : tokens_) {
      h.i64(t.id).str(t.content).boolean(t.single_word).boolean(t.lstrip).boolean(t.rstrip);
      h.boolean(t.normalized).boolean(t.special);
    }
  }

 private:
  std::vector<AddedToken> tokens_;
  std::map<std::string, size_t, std::less<>> by_content_;
  std::vector<std::string> special_contents_;
  detail::Trie raw_trie_;
  detail::Trie normalized_trie_;
};

}  // namespace genarm::tokenizer
