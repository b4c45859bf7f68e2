// Decoders: turn the token strings of a sequence of ids back into text (HF `decoders`).
// Supported: ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, WordPiece, BPEDecoder and
// Sequence; other types are refused with kUnsupported. Like HF, a decoder is a chain step that
// maps a list of token strings to another list; the final text is their concatenation.
// Ownership: owns its parameters. Thread-safety: immutable, thread-safe; callers pass their own
// TokenList and DecoderScratch (reused across calls, so a warm decoding loop does not allocate).
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
#include "genarm/tokenizer/pre_tokenizer.hpp"
#include "genarm/tokenizer/regex.hpp"

namespace genarm::tokenizer {

// A list of strings that keeps the capacity of its elements when it shrinks.
class TokenList {
 public:
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::string& operator[](size_t i) { return items_[i]; }
  const std::string& operator[](size_t i) const { return items_[i]; }
  // Appends an empty string and returns it.
  std::string& append() {
    if (size_ == items_.size()) items_.emplace_back();
    std::string& s = items_[size_++];
    s.clear();
    return s;
  }
  void append(std::string_view s) { append().assign(s); }
  void truncate(size_t n) { size_ = std::min(size_, n); }
  void clear() { size_ = 0; }
  std::string joined(std::string_view separator = "") const {
    std::string out;
    join_into(out, separator);
    return out;
  }
  void join_into(std::string& out, std::string_view separator = "") const {
    out.clear();
    for (size_t i = 0; i < size_; ++i) {
      if (i > 0) out.append(separator);
      out.append(items_[i]);
    }
  }

 private:
  std::vector<std::string> items_;
  size_t size_ = 0;
};

struct DecoderScratch {
  std::string bytes;
  std::string text;
  RegexScratch regex;
  std::vector<RegexMatch> matches;
};

namespace detail {

// Replaces every occurrence of `from` (non-empty) in `s` by `to`, building the result in `tmp`.
inline void replace_all(std::string& s, std::string_view from, std::string_view to, std::string& tmp) {
  size_t pos = s.find(from);
  if (pos == std::string::npos) return;
  tmp.clear();
  size_t prev = 0;
  for (; pos != std::string::npos; pos = s.find(from, prev)) {
    tmp.append(s, prev, pos - prev);
    tmp.append(to);
    prev = pos + from.size();
  }
  tmp.append(s, prev, std::string::npos);
  s.swap(tmp);
}

}  // namespace detail

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(TokenList& tokens, DecoderScratch& scratch) const = 0;
  // False when the text of the tokens before a cut right after `token` may still change with
  // the tokens that follow (ByteFallback: a byte token may be continued by more bytes of the
  // same UTF-8 sequence, and an invalid run becomes one U+FFFD per byte). Used by StreamDecoder.
  virtual bool is_cut_point(std::string_view /*token*/) const { return true; }
  virtual void fingerprint(detail::Hasher& h) const = 0;

  // Convenience for tests and tools.
  std::string decode(const std::vector<std::string>& tokens) const {
    TokenList list;
    for (const auto& t : tokens) list.append(t);
    DecoderScratch scratch;
    decode_chain(list, scratch);
    return list.joined();
  }
};

// Maps byte-level characters back to bytes (a token with any other character keeps its own
// UTF-8 bytes, as in HF) and decodes the bytes leniently into one string.
class ByteLevelDecoder final : public Decoder {
 public:
  void decode_chain(TokenList& tokens, DecoderScratch& scratch) const override {
    std::string& bytes = scratch.bytes;
    bytes.clear();
    for (size_t t = 0; t < tokens.size(); ++t) {
      const std::string& token = tokens[t];
      const size_t mark = bytes.size();
      bool mapped = true;
      for (size_t i = 0; i < token.size();) {
        // Byte-level characters are all below U+0144: one byte, or two with lead C2..C5.
        const auto b0 = static_cast<unsigned char>(token[i]);
        char32_t cp;
        if (b0 < 0x80) {
          cp = b0;
          i += 1;
        } else if (b0 >= 0xC2 && b0 <= 0xC5 && i + 1 < token.size() &&
                   (static_cast<unsigned char>(token[i + 1]) & 0xC0) == 0x80) {
          cp = ((b0 & 0x1Fu) << 6) | (static_cast<unsigned char>(token[i + 1]) & 0x3Fu);
          i += 2;
        } else {
          mapped = false;
          break;
        }
        const int b = detail::byte_level_char_to_byte(cp);
        if (b < 0) {
          mapped = false;
          break;
        }
        bytes.push_back(static_cast<char>(b));
      }
      if (!mapped) {
        bytes.resize(mark);
        bytes.append(token);
      }
    }
    tokens.clear();
    std::string& out = tokens.append();
    utf8::append_lossy(out, bytes);
  }
  void fingerprint(detail::Hasher& h) const override { h.str("byte_level"); }
};

// "<0xNN>" tokens become bytes; a run of them becomes its UTF-8 text, or one U+FFFD per byte
// when the run is not valid UTF-8 (HF's behaviour, not from_utf8_lossy's).
class ByteFallbackDecoder final : public Decoder {
 public:
  static bool parse_byte_token(std::string_view t, unsigned char& byte) {
    if (t.size() != 6 || t.substr(0, 3) != "<0x" || t[5] != '>') return false;
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    // Rust's u8::from_str_radix, which HF uses, also accepts a leading '+'.
    if (t[3] == '+') {
      const int lo = hex(t[4]);
      if (lo < 0) return false;
      byte = static_cast<unsigned char>(lo);
      return true;
    }
    const int hi = hex(t[3]);
    const int lo = hex(t[4]);
    if (hi < 0 || lo < 0) return false;
    byte = static_cast<unsigned char>(hi * 16 + lo);
    return true;
  }

  void decode_chain(TokenList& tokens, DecoderScratch& scratch) const override {
    std::string& run = scratch.bytes;
    run.clear();
    size_t write = 0;
    auto flush = [&] {
      if (run.empty()) return;
      if (utf8::is_valid(run)) {
        tokens[write++].assign(run);
      } else {
        for (size_t k = 0; k < run.size(); ++k) tokens[write++].assign(utf8::kReplacementUtf8);
      }
      run.clear();
    };
    const size_t n = tokens.size();
    for (size_t read = 0; read < n; ++read) {
      unsigned char byte = 0;
      if (parse_byte_token(tokens[read], byte)) {
        run.push_back(static_cast<char>(byte));
        continue;
      }
      flush();
      if (write != read) std::swap(tokens[write], tokens[read]);
      ++write;
    }
    flush();
    tokens.truncate(write);
  }
  bool is_cut_point(std::string_view token) const override {
    unsigned char byte = 0;
    return !parse_byte_token(token, byte);
  }
  void fingerprint(detail::Hasher& h) const override { h.str("byte_fallback"); }
};

// Joins every token into one.
class FuseDecoder final : public Decoder {
 public:
  void decode_chain(TokenList& tokens, DecoderScratch& scratch) const override {
    tokens.join_into(scratch.text);
    tokens.clear();
    tokens.append().swap(scratch.text);
  }
  void fingerprint(detail::Hasher& h) const override { h.str("fuse"); }
};

// Removes up to `start` leading and `stop` trailing occurrences of `content` from each token.
class StripDecoder final : public Decoder {
 public:
  StripDecoder(char32_t content, size_t start, size_t stop) : content_(content), start_(start), stop_(stop) {}
  void decode_chain(TokenList& tokens, DecoderScratch&) const override {
    for (size_t t = 0; t < tokens.size(); ++t) {
      std::string& token = tokens[t];
      size_t begin = 0;
      size_t stripped = 0;
      while (stripped < start_ && begin < token.size()) {
        const utf8::Decoded d = utf8::decode(token, begin);
        if (d.code_point != content_ || !d.valid) break;
        begin += d.length;
        ++stripped;
      }
      size_t end = token.size();
      size_t removed = 0;
      while (removed < stop_ && end > begin) {
        size_t p = end - 1;
        while (p > begin && (static_cast<unsigned char>(token[p]) & 0xC0) == 0x80) --p;
        const utf8::Decoded d = utf8::decode(token, p);
        if (!d.valid || d.code_point != content_ || p + d.length != end) break;
        end = p;
        ++removed;
      }
      if (begin > 0 || end < token.size()) token = token.substr(begin, end - begin);
    }
  }
  void fingerprint(detail::Hasher& h) const override { h.str("strip").u64(content_).u64(start_).u64(stop_); }

 private:
  char32_t content_;
  size_t start_, stop_;
};

// Replaces every match of a pattern in each token (e.g. "▁" -> " ").
class ReplaceDecoder final : public Decoder {
 public:
  ReplaceDecoder(detail::PatternSpec spec, Regex regex, std::string content)
      : spec_(std::move(spec)), regex_(std::move(regex)), content_(std::move(content)) {}
  void decode_chain(TokenList& tokens, DecoderScratch& scratch) const override {
    for (size_t t = 0; t < tokens.size(); ++t) {
      std::string& token = tokens[t];
      if (token.empty()) continue;
      if (!spec_.is_regex && !spec_.source.empty()) {
        // A literal: plain substring replacement, the common "▁" -> " " case.
        detail::replace_all(token, spec_.source, content_, scratch.text);
        continue;
      }
      scratch.matches.clear();
      regex_.find_all_unchecked(token, scratch.regex, scratch.matches);
      if (scratch.matches.empty()) continue;
      std::string& out = scratch.text;
      out.clear();
      size_t prev = 0;
      for (const RegexMatch& m : scratch.matches) {
        out.append(token, prev, m.begin - prev);
        out.append(content_);
        prev = m.end;
      }
      out.append(token, prev, std::string::npos);
      token.swap(out);
    }
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

// The replacement character becomes a space, except in the first token when a prefix was
// prepended at encoding time (HF removes every replacement character of that token).
class MetaspaceDecoder final : public Decoder {
 public:
  MetaspaceDecoder(char32_t replacement, PrependScheme scheme) : replacement_(replacement), scheme_(scheme) {}
  void decode_chain(TokenList& tokens, DecoderScratch& scratch) const override {
    for (size_t t = 0; t < tokens.size(); ++t) {
      std::string& token = tokens[t];
      const bool drop = t == 0 && scheme_ != PrependScheme::kNever;
      std::string& out = scratch.text;
      out.clear();
      bool changed = false;
      for (size_t i = 0; i < token.size();) {
        const utf8::Decoded d = utf8::decode(token, i);
        if (d.valid && d.code_point == replacement_) {
          if (!drop) out.push_back(' ');
          changed = true;
        } else {
          out.append(token, i, d.length);
        }
        i += d.length;
      }
      if (changed) token.swap(out);
    }
  }
  void fingerprint(detail::Hasher& h) const override {
    h.str("metaspace").u64(replacement_).u64(static_cast<uint64_t>(scheme_));
  }

 private:
  char32_t replacement_;
  PrependScheme scheme_;
};

class WordPieceDecoder final : public Decoder {
 public:
  WordPieceDecoder(std::string prefix, bool cleanup) : prefix_(std::move(prefix)), cleanup_(cleanup) {}
  void decode_chain(TokenList& tokens, DecoderScratch& scratch) const override {
    for (size_t t = 0; t < tokens.size(); ++t) {
      std::string& token = tokens[t];
      if (t != 0) {
        if (!prefix_.empty() && token.compare(0, prefix_.size(), prefix_) == 0) {
          token.erase(0, prefix_.size());
        } else {
          token.insert(0, " ");
        }
      }
      if (cleanup_) cleanup(token, scratch.text);
    }
  }
  // HF's wordpiece cleanup: undo the spaces a word-level tokenizer put around punctuation.
  static void cleanup(std::string& s, std::string& tmp) {
    static const std::pair<std::string_view, std::string_view> kRules[] = {
        {" .", "."},     {" ?", "?"},     {" !", "!"},         {" ,", ","},
        {" ' ", "'"},    {" n't", "n't"}, {" 'm", "'m"},       {" do not", " don't"},
        {" 's", "'s"},   {" 've", "'ve"}, {" 're", "'re"},
    };
    for (const auto& [from, to] : kRules) detail::replace_all(s, from, to, tmp);
  }
  void fingerprint(detail::Hasher& h) const override { h.str("wordpiece").str(prefix_).boolean(cleanup_); }

 private:
  std::string prefix_;
  bool cleanup_;
};

// Original BPE: the end-of-word suffix becomes a space, or nothing in the last token.
class BpeDecoder final : public Decoder {
 public:
  explicit BpeDecoder(std::string suffix) : suffix_(std::move(suffix)) {}
  void decode_chain(TokenList& tokens, DecoderScratch& scratch) const override {
    if (suffix_.empty()) return;
    for (size_t t = 0; t < tokens.size(); ++t) {
      detail::replace_all(tokens[t], suffix_, t + 1 == tokens.size() ? "" : " ", scratch.text);
    }
  }
  void fingerprint(detail::Hasher& h) const override { h.str("bpe_decoder").str(suffix_); }

 private:
  std::string suffix_;
};

class SequenceDecoder final : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> children) : children_(std::move(children)) {}
  void decode_chain(TokenList& tokens, DecoderScratch& scratch) const override {
    for (const auto& child : children_) child->decode_chain(tokens, scratch);
  }
  bool is_cut_point(std::string_view token) const override {
    for (const auto& child : children_) {
      if (!child->is_cut_point(token)) return false;
    }
    return true;
  }
  void fingerprint(detail::Hasher& h) const override {
    h.str("sequence").u64(children_.size());
    for (const auto& child : children_) child->fingerprint(h);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> children_;
};

inline std::unique_ptr<Decoder> make_decoder(const io::JsonView& j) {
  j.expect_object();
  const std::string type = j.type();
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip") {
    return std::make_unique<StripDecoder>(detail::read_single_char(j.at("content")),
                                          static_cast<size_t>(j.get_int("start", 0, 0, 1 << 20)),
                                          static_cast<size_t>(j.get_int("stop", 0, 0, 1 << 20)));
  }
  if (type == "Replace") {
    const io::JsonView pattern = j.at("pattern");
    detail::PatternSpec spec = detail::read_pattern(pattern);
    std::string content = j.at("content").as_string();
    detail::check_replace_content(spec, content, j);
    Regex regex = detail::compile_pattern(spec, pattern);
    return std::make_unique<ReplaceDecoder>(std::move(spec), std::move(regex), std::move(content));
  }
  if (type == "Metaspace") {
    return std::make_unique<MetaspaceDecoder>(detail::read_single_char(j.at("replacement")),
                                              detail::read_prepend_scheme(j));
  }
  if (type == "WordPiece") {
    return std::make_unique<WordPieceDecoder>(j.get_string("prefix", "##"), j.get_bool("cleanup", true));
  }
  if (type == "BPEDecoder") return std::make_unique<BpeDecoder>(j.get_string("suffix", "</w>"));
  if (type == "Sequence") {
    const io::JsonView list = j.at("decoders");
    std::vector<std::unique_ptr<Decoder>> children;
    for (size_t i = 0; i < list.size(); ++i) children.push_back(make_decoder(list.at(i)));
    return std::make_unique<SequenceDecoder>(std::move(children));
  }
  j.unsupported("unsupported decoder type '", type, "'");
}

}  // namespace genarm::tokenizer
