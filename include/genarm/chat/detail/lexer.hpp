// The Jinja lexer: template source -> tokens, reproducing jinja2's lexer (jinja2/lexer.py) with
// Hugging Face's environment settings — trim_blocks (the first newline after a block or comment
// tag is dropped), lstrip_blocks (spaces and tabs before a block or comment tag at the start of
// a line are dropped), keep_trailing_newline off (one trailing newline of the source is
// dropped), "\r\n" and "\r" read as "\n" — and the whitespace-control marks {%- -%} {{- -}}
// {#- -#} and {%+ +%}.
// Positions are byte offsets into the normalized source; SourceText turns them into
// line:column (column counted in characters) for messages.
// Thread-safety: a Lexer is used by one thread; its output is immutable.
#pragma once

#include <cstdint>
#include <cerrno>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "genarm/chat/detail/py_string.hpp"
#include "genarm/chat/detail/value.hpp"
#include "genarm/core/utf8.hpp"

namespace genarm::chat::detail {

// The template text after newline normalization, with line starts for error positions.
class SourceText {
 public:
  SourceText() = default;
  explicit SourceText(std::string_view raw) {
    text_.reserve(raw.size());
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '\r') {
        text_.push_back('\n');
        if (i + 1 < raw.size() && raw[i + 1] == '\n') ++i;
      } else {
        text_.push_back(raw[i]);
      }
    }
    // keep_trailing_newline=False: jinja2 drops one final newline of the source.
    if (!text_.empty() && text_.back() == '\n') text_.pop_back();
    line_starts_.push_back(0);
    for (size_t i = 0; i < text_.size(); ++i) {
      if (text_[i] == '\n') line_starts_.push_back(i + 1);
    }
  }

  const std::string& text() const { return text_; }

  // "line:column", both 1-based, the column in characters.
  std::string position(size_t offset) const {
    if (offset > text_.size()) offset = text_.size();
    size_t line = 0;
    size_t lo = 0;
    size_t hi = line_starts_.size();
    while (hi - lo > 1) {
      const size_t mid = (lo + hi) / 2;
      if (line_starts_[mid] <= offset) {
        lo = mid;
      } else {
        hi = mid;
      }
    }
    line = lo;
    const size_t column = code_point_count(std::string_view(text_).substr(line_starts_[line], offset - line_starts_[line]));
    return std::to_string(line + 1) + ":" + std::to_string(column + 1);
  }

 private:
  std::string text_;
  std::vector<size_t> line_starts_;
};

enum class TokenType : uint8_t {
  kData,        // template text between tags (after whitespace control)
  kVarBegin,    // {{
  kVarEnd,      // }}
  kBlockBegin,  // {%
  kBlockEnd,    // %}
  kName,
  kString,
  kInteger,
  kFloat,
  kOperator,
  kEof,
};

struct Token {
  TokenType type = TokenType::kEof;
  std::string text;  // data text, name, decoded string literal, or operator
  int64_t integer = 0;
  double number = 0.0;
  size_t pos = 0;  // byte offset in the normalized source

  bool is_name(std::string_view name) const { return type == TokenType::kName && text == name; }
  bool is_op(std::string_view op) const { return type == TokenType::kOperator && text == op; }
};

// What a token is, for "expected X, got Y" messages (jinja2's describe_token).
inline std::string describe_token(const Token& t) {
  switch (t.type) {
    case TokenType::kData: return "template data / text";
    case TokenType::kVarBegin: return "begin of print statement";
    case TokenType::kVarEnd: return "end of print statement";
    case TokenType::kBlockBegin: return "begin of statement block";
    case TokenType::kBlockEnd: return "end of statement block";
    case TokenType::kName: return t.text;
    case TokenType::kString: return "string";
    case TokenType::kInteger: return "integer";
    case TokenType::kFloat: return "float";
    case TokenType::kOperator: return t.text;
    case TokenType::kEof: return "end of template";
  }
  return "token";
}

class Lexer {
 public:
  // `source` must outlive the lexer. Errors are TemplateError(kFormat) with line:column.
  explicit Lexer(const SourceText& source) : source_(source), s_(source.text()) {}

  std::vector<Token> tokenize() {
    while (pos_ < s_.size()) lex_root();
    push(TokenType::kEof, "", s_.size());
    return std::move(tokens_);
  }

 private:
  enum class TagKind { kComment, kBlock, kVariable, kRaw };

  [[noreturn]] void fail_at(size_t offset, const std::string& what) const {
    throw TemplateError{ErrorCategory::kFormat, source_.position(offset) + ": " + what, true};
  }

  void push(TokenType type, std::string text, size_t pos) {
    Token t;
    t.type = type;
    t.text = std::move(text);
    t.pos = pos;
    tokens_.push_back(std::move(t));
  }

  // Python's \s at `pos`: the length of the whitespace character there, or 0.
  size_t space_at(size_t pos) const {
    if (pos >= s_.size()) return 0;
    const utf8::Decoded d = utf8::decode(s_, pos);
    return py_isspace(d.code_point) ? d.length : 0;
  }
  size_t skip_spaces(size_t pos) const {
    while (size_t n = space_at(pos)) pos += n;
    return pos;
  }

  bool starts_with(size_t pos, std::string_view what) const {
    return s_.compare(pos, what.size(), what) == 0;
  }

  // jinja2's raw_begin: "{%" sign? \s* "raw" \s* ("-%}" \s* | "%}"); returns the end of the
  // match, or 0.
  size_t match_raw_begin(size_t pos, char& sign) const {
    size_t p = pos + 2;
    sign = 0;
    if (p < s_.size() && (s_[p] == '-' || s_[p] == '+')) sign = s_[p++];
    p = skip_spaces(p);
    if (!starts_with(p, "raw")) return 0;
    p = skip_spaces(p + 3);
    if (starts_with(p, "-%}")) return skip_spaces(p + 3);
    if (starts_with(p, "%}")) return p + 2;
    return 0;
  }

  // Applies {%- (strip all whitespace before the tag) or lstrip_blocks (strip the spaces that
  // alone precede a block or comment tag on its line) to the text before a tag.
  std::string_view strip_text(std::string_view text, char sign, bool lstrip_allowed) const {
    if (sign == '-') {
      size_t end = text.size();
      while (end > 0) {
        size_t start = end - 1;
        while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
        if (!py_isspace(utf8::decode(text, start).code_point)) break;
        end = start;
      }
      return text.substr(0, end);
    }
    if (sign == '+' || !lstrip_allowed) return text;
    const size_t newline = text.rfind('\n');
    const size_t line_begin = newline == std::string_view::npos ? 0 : newline + 1;
    if (line_begin == 0 && !line_starting_) return text;
    if (line_begin == text.size()) return text;
    for (size_t p = line_begin; p < text.size();) {
      const utf8::Decoded d = utf8::decode(text, p);
      if (!py_isspace(d.code_point)) return text;
      p += d.length;
    }
    return text.substr(0, line_begin);
  }

  void emit_data(std::string_view text, size_t pos) {
    if (!text.empty()) push(TokenType::kData, std::string(text), pos);
  }

  void lex_root() {
    // The earliest tag start: {{, {% (or a raw block) or {#.
    size_t p = pos_;
    TagKind kind = TagKind::kBlock;
    for (;; ++p) {
      p = s_.find('{', p);
      if (p == std::string::npos || p + 1 >= s_.size()) {
        emit_data(std::string_view(s_).substr(pos_), pos_);
        pos_ = s_.size();
        return;
      }
      const char c = s_[p + 1];
      if (c == '{') {
        kind = TagKind::kVariable;
        break;
      }
      if (c == '#') {
        kind = TagKind::kComment;
        break;
      }
      if (c == '%') {
        char sign = 0;
        kind = match_raw_begin(p, sign) ? TagKind::kRaw : TagKind::kBlock;
        break;
      }
    }
    char sign = 0;
    if (p + 2 < s_.size() && (s_[p + 2] == '-' || s_[p + 2] == '+')) sign = s_[p + 2];
    const std::string_view text = std::string_view(s_).substr(pos_, p - pos_);
    emit_data(strip_text(text, sign, kind != TagKind::kVariable), pos_);
    const size_t after = p + 2 + (sign ? 1 : 0);
    switch (kind) {
      case TagKind::kComment: lex_comment(p, after); break;
      case TagKind::kRaw: lex_raw(p); break;
      case TagKind::kBlock:
        line_starting_ = false;
        push(TokenType::kBlockBegin, "", p);
        lex_tag(after, /*block=*/true);
        break;
      case TagKind::kVariable:
        line_starting_ = false;
        push(TokenType::kVarBegin, "", p);
        lex_tag(after, /*block=*/false);
        break;
    }
  }

  void lex_comment(size_t begin, size_t content) {
    size_t q = s_.find("#}", content);
    if (q == std::string::npos) fail_at(begin, "missing end of comment tag '#}'");
    size_t end = q + 2;
    if (q > content && s_[q - 1] == '-') {
      end = skip_spaces(end);
    } else if (q > content && s_[q - 1] == '+') {
      // no trimming
    } else if (end < s_.size() && s_[end] == '\n') {
      ++end;  // trim_blocks
    }
    line_starting_ = end > 0 && s_[end - 1] == '\n';
    pos_ = end;
  }

  void lex_raw(size_t begin) {
    char sign = 0;
    const size_t content = match_raw_begin(begin, sign);
    line_starting_ = content > 0 && s_[content - 1] == '\n';
    // The first {% endraw %} (with optional sign and spaces) ends the block.
    for (size_t p = content;; ++p) {
      p = s_.find("{%", p);
      if (p == std::string::npos) fail_at(begin, "missing end of raw directive '{% endraw %}'");
      size_t q = p + 2;
      char end_sign = 0;
      if (q < s_.size() && (s_[q] == '-' || s_[q] == '+')) end_sign = s_[q++];
      q = skip_spaces(q);
      if (!starts_with(q, "endraw")) continue;
      q = skip_spaces(q + 6);
      size_t end = 0;
      if (starts_with(q, "+%}")) {
        end = q + 3;
      } else if (starts_with(q, "-%}")) {
        end = skip_spaces(q + 3);
      } else if (starts_with(q, "%}")) {
        end = q + 2;
        if (end < s_.size() && s_[end] == '\n') ++end;
      } else {
        continue;
      }
      emit_data(strip_text(std::string_view(s_).substr(content, p - content), end_sign, true), content);
      line_starting_ = s_[end - 1] == '\n';
      pos_ = end;
      return;
    }
  }

  // The tokens inside {% ... %} or {{ ... }}, up to and including the closing tag.
  void lex_tag(size_t p, bool block) {
    std::vector<char> balance;  // closing brackets expected, innermost last
    while (p < s_.size()) {
      if (balance.empty()) {
        size_t end = 0;
        if (block) {
          if (starts_with(p, "+%}")) {
            end = p + 3;
          } else if (starts_with(p, "-%}")) {
            end = skip_spaces(p + 3);
          } else if (starts_with(p, "%}")) {
            end = p + 2;
            if (end < s_.size() && s_[end] == '\n') ++end;  // trim_blocks
          }
        } else {
          if (starts_with(p, "-}}")) {
            end = skip_spaces(p + 3);
          } else if (starts_with(p, "}}")) {
            end = p + 2;
          }
        }
        if (end) {
          push(block ? TokenType::kBlockEnd : TokenType::kVarEnd, "", p);
          line_starting_ = s_[end - 1] == '\n';
          pos_ = end;
          return;
        }
      }
      if (const size_t n = space_at(p)) {
        p += n;
        continue;
      }
      const char c = s_[p];
      if (c >= '0' && c <= '9') {
        p = lex_number(p);
      } else if (c == '\'' || c == '"') {
        p = lex_string(p);
      } else if (is_name_start(p)) {
        const size_t start = p;
        p = name_end(p);
        push(TokenType::kName, s_.substr(start, p - start), start);
      } else {
        p = lex_operator(p, balance);
      }
    }
    // End of the source inside a tag: the parser reports what it was still expecting.
    pos_ = s_.size();
  }

  bool is_name_start(size_t p) const {
    const unsigned char c = static_cast<unsigned char>(s_[p]);
    if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const char32_t cp = utf8::decode(s_, p).code_point;
    return tokenizer::in_categories(cp, tokenizer::kLetterMask | tokenizer::category_bit(tokenizer::GeneralCategory::kNl));
  }

  size_t name_end(size_t p) const {
    while (p < s_.size()) {
      const unsigned char c = static_cast<unsigned char>(s_[p]);
      if (c < 0x80) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_') {
          ++p;
          continue;
        }
        break;
      }
      const utf8::Decoded d = utf8::decode(s_, p);
      using tokenizer::GeneralCategory;
      constexpr tokenizer::CategoryMask kContinue =
          tokenizer::kLetterMask | tokenizer::category_bit(GeneralCategory::kNl) |
          tokenizer::category_bit(GeneralCategory::kMn) | tokenizer::category_bit(GeneralCategory::kMc) |
          tokenizer::category_bit(GeneralCategory::kNd) | tokenizer::category_bit(GeneralCategory::kPc);
      if (!tokenizer::in_categories(d.code_point, kContinue)) break;
      p += d.length;
    }
    return p;
  }

  static bool is_digit(char c) { return c >= '0' && c <= '9'; }

  // Digits with single '_' separators ("1_000"); returns the end, or `p` if none.
  size_t digits_end(size_t p) const {
    if (p >= s_.size() || !is_digit(s_[p])) return p;
    while (p < s_.size()) {
      if (is_digit(s_[p])) {
        ++p;
      } else if (s_[p] == '_' && p + 1 < s_.size() && is_digit(s_[p + 1])) {
        p += 2;
      } else {
        break;
      }
    }
    return p;
  }

  static std::string without_underscores(std::string_view text) {
    std::string out;
    for (const char c : text) {
      if (c != '_') out.push_back(c);
    }
    return out;
  }

  // jinja2's float_re (tried first: digits, then a fraction and/or an exponent, not right after
  // a '.') and integer_re (0b/0o/0x prefixes, '_' separators).
  size_t lex_number(size_t p) {
    const size_t start = p;
    const bool after_dot = p > 0 && s_[p - 1] == '.';
    const size_t int_end = digits_end(p);
    if (!after_dot) {
      size_t q = int_end;
      bool is_float = false;
      if (q < s_.size() && s_[q] == '.' && digits_end(q + 1) > q + 1) {
        q = digits_end(q + 1);
        is_float = true;
      }
      if (q < s_.size() && (s_[q] == 'e' || s_[q] == 'E')) {
        size_t e = q + 1;
        if (e < s_.size() && (s_[e] == '+' || s_[e] == '-')) ++e;
        if (digits_end(e) > e) {
          q = digits_end(e);
          is_float = true;
        }
      }
      if (is_float) {
        Token t;
        t.type = TokenType::kFloat;
        t.number = std::strtod(without_underscores(std::string_view(s_).substr(start, q - start)).c_str(), nullptr);
        t.pos = start;
        tokens_.push_back(std::move(t));
        return q;
      }
    }
    int base = 10;
    size_t digits_begin = p;
    size_t end = int_end;
    if (s_[p] == '0' && p + 1 < s_.size()) {
      const char x = static_cast<char>(s_[p + 1] | 0x20);
      base = x == 'b' ? 2 : x == 'o' ? 8 : x == 'x' ? 16 : 10;
      if (base != 10) {
        digits_begin = p + 2;
        const auto is_base_digit = [&](char c) {
          if (base == 2) return c == '0' || c == '1';
          if (base == 8) return c >= '0' && c <= '7';
          return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
        };
        end = digits_begin;
        while (end < s_.size()) {
          if (is_base_digit(s_[end])) {
            ++end;
          } else if (s_[end] == '_' && end + 1 < s_.size() && is_base_digit(s_[end + 1])) {
            end += 2;
          } else {
            break;
          }
        }
        if (end == digits_begin) {  // "0x" without digits: the integer 0, then a name
          base = 10;
          digits_begin = p;
          end = p + 1;
        }
      } else {
        // A decimal literal with a leading zero is only zeros ("00"); "01" is "0" then "1".
        end = p + 1;
        while (end < s_.size() && (s_[end] == '0' || (s_[end] == '_' && end + 1 < s_.size() && s_[end + 1] == '0'))) ++end;
      }
    }
    const std::string digits = without_underscores(std::string_view(s_).substr(digits_begin, end - digits_begin));
    errno = 0;
    char* parsed_end = nullptr;
    const unsigned long long v = std::strtoull(digits.c_str(), &parsed_end, base);
    if (errno == ERANGE || v > static_cast<unsigned long long>(std::numeric_limits<int64_t>::max())) {
      throw TemplateError{ErrorCategory::kUnsupported,
                          source_.position(start) + ": integer literal " + s_.substr(start, end - start) +
                              " does not fit in 64 bits",
                          true};
    }
    Token t;
    t.type = TokenType::kInteger;
    t.integer = static_cast<int64_t>(v);
    t.pos = start;
    tokens_.push_back(std::move(t));
    return end;
  }

  static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = static_cast<char>(c | 0x20);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  }

  // A string literal, decoded the way jinja2 does it (Python's unicode-escape codec).
  size_t lex_string(size_t p) {
    const size_t start = p;
    const char quote = s_[p++];
    std::string value;
    while (true) {
      if (p >= s_.size()) fail_at(start, "unterminated string literal");
      const char c = s_[p];
      if (c == quote) {
        ++p;
        break;
      }
      if (c != '\\') {
        value.push_back(c);
        ++p;
        continue;
      }
      if (p + 1 >= s_.size()) fail_at(start, "unterminated string literal");
      const char e = s_[p + 1];
      p += 2;
      switch (e) {
        case '\n': break;  // line continuation
        case '\\': value.push_back('\\'); break;
        case '\'': value.push_back('\''); break;
        case '"': value.push_back('"'); break;
        case 'a': value.push_back('\a'); break;
        case 'b': value.push_back('\b'); break;
        case 'f': value.push_back('\f'); break;
        case 'n': value.push_back('\n'); break;
        case 'r': value.push_back('\r'); break;
        case 't': value.push_back('\t'); break;
        case 'v': value.push_back('\v'); break;
        case 'x':
        case 'u':
        case 'U': {
          const int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          uint32_t cp = 0;
          for (int k = 0; k < digits; ++k) {
            const int h = p < s_.size() ? hex_value(s_[p]) : -1;
            if (h < 0) fail_at(p - 2 - k, std::string("truncated \\") + e + " escape in string literal");
            cp = cp * 16 + static_cast<uint32_t>(h);
            ++p;
          }
          if (cp > utf8::kMaxCodePoint) fail_at(start, "illegal Unicode character in string literal");
          utf8::append(value, cp);
          break;
        }
        case 'N':
          throw TemplateError{ErrorCategory::kUnsupported,
                              source_.position(p - 2) + ": \\N{...} escapes in string literals are not supported",
                              true};
        default:
          if (e >= '0' && e <= '7') {
            uint32_t cp = static_cast<uint32_t>(e - '0');
            for (int k = 0; k < 2 && p < s_.size() && s_[p] >= '0' && s_[p] <= '7'; ++k) cp = cp * 8 + static_cast<uint32_t>(s_[p++] - '0');
            utf8::append(value, cp);
          } else {
            // Python keeps unknown escapes as they are.
            value.push_back('\\');
            value.push_back(e);
          }
      }
    }
    push(TokenType::kString, std::move(value), start);
    return p;
  }

  size_t lex_operator(size_t p, std::vector<char>& balance) {
    static constexpr std::string_view kTwo[] = {"//", "**", "==", "!=", ">=", "<="};
    for (const std::string_view op : kTwo) {
      if (starts_with(p, op)) {
        push(TokenType::kOperator, std::string(op), p);
        return p + 2;
      }
    }
    const char c = s_[p];
    static constexpr std::string_view kOne = "+-/*%~[](){}><=.:|,;";
    if (kOne.find(c) == std::string_view::npos) {
      const utf8::Decoded d = utf8::decode(s_, p);
      fail_at(p, "unexpected character " + py_repr_string(s_.substr(p, d.length)));
    }
    if (c == '(' || c == '[' || c == '{') {
      balance.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
    } else if (c == ')' || c == ']' || c == '}') {
      if (balance.empty()) fail_at(p, std::string("unexpected '") + c + "'");
      if (balance.back() != c) fail_at(p, std::string("unexpected '") + c + "', expected '" + balance.back() + "'");
      balance.pop_back();
    }
    push(TokenType::kOperator, std::string(1, c), p);
    return p + 1;
  }

  const SourceText& source_;
  const std::string& s_;
  size_t pos_ = 0;
  bool line_starting_ = true;  // the last match ended a line (for lstrip_blocks)
  std::vector<Token> tokens_;
};

}  // namespace genarm::chat::detail
