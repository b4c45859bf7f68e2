// A small backtracking regex engine over code points, for the patterns in tokenizer.json.
//
// Hugging Face `tokenizers` runs its Split / Replace / ByteLevel patterns with Oniguruma, so this
// engine follows Oniguruma's semantics: leftmost-first (Perl-style) alternation, greedy, lazy
// (`*?`) and possessive (`*+`) quantifiers, lookahead `(?=..)` `(?!..)`, atomic groups `(?>..)`,
// scoped flags `(?i)` `(?i:..)` `(?-i:..)` and `(?m)` (Oniguruma's "dot matches newline"),
// character classes with ranges, negation, nesting, `\p{..}`/`\P{..}` general categories and
// `\s \S \d \D \w \W \h \H \N \O` in their Oniguruma Unicode meaning (\w is Letter | Mark |
// Number | Connector_Punctuation), `^ $ \A \z \Z \b \B` anchors (^ and $ at line boundaries), and
// escapes `\n \r \t \f \v \a \e \0 \xHH \x{H..} \uHHHH`. As in Oniguruma, a `{` that does not
// start an interval is a literal and `a{n}?` means `(?:a{n})?`, not a lazy `{n}`. Case-insensitive
// matching uses simple case folding (Oniguruma also applies multi-character folds such as
// "ss" ~ "ß"). Anything else (backreferences, lookbehind, named properties such as scripts, class
// intersection, ...) is rejected when the pattern is compiled with a genarm::Error naming the
// pattern and the byte position: kUnsupported for valid syntax we do not implement, kTokenizer
// for a malformed pattern. Groups do not capture (nothing in the tokenizer needs captures).
//
// Matching is an explicit-stack backtracking VM, so neither long inputs nor long repetitions
// recurse; a repetition of a single character class (`\p{L}+`) keeps one backtrack entry however
// many characters it consumes. The subject text must be valid UTF-8 (the tokenizer validates
// its input once; `find_all` checks).
// Ownership: a Regex owns its compiled program. Thread-safety: a Regex is immutable and may be
// shared by threads; each thread passes its own RegexScratch.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "genarm/core/error.hpp"
#include "genarm/core/utf8.hpp"
#include "genarm/tokenizer/unicode.hpp"

namespace genarm::tokenizer {

struct RegexMatch {
  size_t begin = 0;
  size_t end = 0;
  bool operator==(const RegexMatch&) const = default;
};

// Per-thread working memory for matching; reuse it across calls to avoid allocations.
struct RegexScratch {
  struct Frame {
    uint32_t kind;
    uint32_t pc;
    size_t pos;
    size_t aux;
  };
  std::vector<Frame> stack;  // backtrack entries [0, top)
  size_t top = 0;
  std::vector<size_t> marks;
  std::vector<RegexMatch> matches;
  uint64_t budget = 0;  // backtracking steps left in the current match attempt
};

class Regex {
 public:
  // Compiles `pattern` (Oniguruma syntax, UTF-8).
  explicit Regex(std::string_view pattern) : pattern_(pattern) { compile(); }

  // A regex matching `text` literally (Hugging Face escapes String patterns into a regex).
  static Regex literal(std::string_view text) {
    std::string escaped;
    for (char c : text) {
      if (std::string_view("\\^$.|?*+()[]{}-#&~ \t\n\r\f\v").find(c) != std::string_view::npos) {
        // Whitespace is escaped too so that the pattern is inert even under (?x).
        if (c == '\t') { escaped += "\\t"; continue; }
        if (c == '\n') { escaped += "\\n"; continue; }
        if (c == '\r') { escaped += "\\r"; continue; }
        if (c == '\f') { escaped += "\\f"; continue; }
        if (c == '\v') { escaped += "\\v"; continue; }
        escaped += '\\';
      }
      escaped += c;
    }
    return Regex(escaped);
  }

  const std::string& pattern() const { return pattern_; }

  // True when the pattern contains lookaround or atomic groups (features a DFA engine lacks).
  bool uses_lookaround() const { return uses_lookaround_; }

  // The leftmost-first match that starts at or after `from` (a character boundary of `text`,
  // which must be valid UTF-8), or nullopt.
  std::optional<RegexMatch> search(std::string_view text, size_t from, RegexScratch& scratch) const {
    scratch.budget = step_budget(text);
    return search_from(text, from, scratch);
  }

  // Every match, in the order and with the empty-match rule of Oniguruma's find_iter as the
  // Rust `onig` crate drives it: an empty match right where the previous match ended is skipped.
  // Appends to `out`. `text` must be valid UTF-8.
  void find_all_unchecked(std::string_view text, RegexScratch& scratch,
                          std::vector<RegexMatch>& out) const {
    scratch.budget = step_budget(text);  // one budget for the whole scan
    size_t last_end = 0;
    bool have_last = false;
    size_t last_match_end = 0;
    while (last_end <= text.size()) {
      const auto m = search_from(text, last_end, scratch);
      if (!m) break;
      if (m->begin == m->end && have_last && last_match_end == m->end) {
        last_end += last_end < text.size()
                        ? utf8::sequence_length(static_cast<unsigned char>(text[last_end]))
                        : 1;
        continue;
      }
      out.push_back(*m);
      last_end = m->end;
      have_last = true;
      last_match_end = m->end;
    }
  }

  // Checked convenience: all matches of the pattern in `text` (kInvalidArgument on ill-formed
  // UTF-8).
  std::vector<RegexMatch> find_all(std::string_view text) const {
    const size_t bad = utf8::find_invalid(text);
    if (bad != std::string_view::npos) {
      fail(ErrorCategory::kInvalidArgument, "regex '", pattern_,
           "': subject is not valid UTF-8 at byte ", bad);
    }
    RegexScratch scratch;
    std::vector<RegexMatch> out;
    find_all_unchecked(text, scratch, out);
    return out;
  }

  // The matched substrings of find_all (handy in tests).
  std::vector<std::string> find_all_strings(std::string_view text) const {
    std::vector<std::string> out;
    for (const RegexMatch& m : find_all(text)) out.emplace_back(text.substr(m.begin, m.end - m.begin));
    return out;
  }

 private:
  // A pathological pattern fails loudly instead of running for hours. Oniguruma bounds each
  // match attempt by 10M retries; that alone still allows one attempt per start position and,
  // between retries, long forward runs (a{100000} of a nullable item re-run after each retry:
  // 127 s on a 68-byte subject). So one budget of steps, every instruction run and every
  // backtrack, covers a whole search() or find_all: 10M plus 1000 per subject byte, far above
  // the under 15 steps per byte of the GPT-2, Llama 3 and Qwen2 patterns on any text.
  static constexpr uint64_t kStepLimit = 10'000'000;
  static constexpr uint64_t kStepsPerByte = 1'000;
  static uint64_t step_budget(std::string_view text) { return kStepLimit + kStepsPerByte * text.size(); }

  // search() without resetting the step budget.
  std::optional<RegexMatch> search_from(std::string_view text, size_t from, RegexScratch& scratch) const {
    if (from > text.size()) return std::nullopt;
    if (literal_) {
      if (literal_->empty()) return RegexMatch{from, from};
      const size_t at = text.find(*literal_, from);
      if (at == std::string_view::npos) return std::nullopt;
      return RegexMatch{at, at + literal_->size()};
    }
    scratch.marks.assign(mark_count_, std::numeric_limits<size_t>::max());
    scratch.top = 0;
    for (size_t start = from; start <= text.size();) {
      if (start < text.size()) {
        const auto b = static_cast<unsigned char>(text[start]);
        if (!nullable_ && !(first_bytes_[b >> 6] >> (b & 63) & 1)) {
          start += utf8::sequence_length(b);
          continue;
        }
      } else if (!nullable_) {
        break;
      }
      size_t end = 0;
      if (run(text, scratch, 0, start, end)) return RegexMatch{start, end};
      if (start == text.size()) break;
      start += utf8::sequence_length(static_cast<unsigned char>(text[start]));
    }
    return std::nullopt;
  }

  static constexpr int kMaxNesting = 200;
  static constexpr int kMaxRepeat = 100'000;  // Oniguruma's ONIG_MAX_REPEAT_NUM
  static constexpr size_t kMaxProgram = 200'000;
  static constexpr int32_t kInfinite = -1;

  enum class Assert : uint8_t {
    kLineStart, kLineEnd, kTextStart, kTextEnd, kTextEndNewline, kWordBoundary, kNotWordBoundary,
  };
  enum class Look : uint8_t { kAhead, kNegativeAhead, kAtomic };
  enum class Greed : uint8_t { kGreedy, kLazy, kPossessive };

  struct ClassItem {
    enum Kind : uint8_t { kRange, kCategories, kWhiteSpace, kWord, kHexDigit, kNested } kind;
    bool negated = false;
    char32_t lo = 0, hi = 0;
    CategoryMask mask = 0;
    uint32_t nested = 0;
  };
  struct CharClass {
    std::vector<ClassItem> items;
    bool negated = false;
    bool fold = false;
    std::array<uint64_t, 2> ascii{};  // the full answer (fold and negation applied) for ASCII
  };

  struct Node {
    enum Kind : uint8_t { kEmpty, kChar, kAny, kClass, kConcat, kAlt, kRepeat, kLook, kAssert };
    explicit Node(Kind k) : kind(k) {}
    Kind kind;
    char32_t cp = 0;
    bool fold = false;     // kChar: case-insensitive
    bool dotall = false;   // kAny: also matches '\n'
    uint32_t cls = 0;      // kClass
    std::vector<uint32_t> children;  // kConcat, kAlt; kRepeat/kLook: children[0]
    int32_t min = 0, max = 0;
    Greed greed = Greed::kGreedy;
    Look look = Look::kAhead;
    Assert assertion = Assert::kLineStart;
  };

  enum class Op : uint8_t {
    kChar, kCharFold, kAny, kAnyNewline, kClass,  // single-character matchers
    kRepeat,    // a = item index, min/max, greed
    kSplit,     // prefer a, then b; min > 0: guards_[min - 1] holds the bytes a can start with
    kJmp,       // a
    kAssert,    // a = Assert
    kLook,      // a = Look, b = pc after the body's kLookEnd
    kLookEnd,
    kSetMark,   // a = mark
    kCheckMark, // a = mark: an iteration that consumed nothing fails
    kMatch,
  };
  struct Inst {
    Op op;
    uint8_t greed = 0;
    uint32_t a = 0, b = 0;
    int32_t min = 0, max = 0;
  };

  enum FrameKind : uint32_t { kFrameBranch, kFrameGreedy, kFrameLazy, kFrameMark };

  struct Flags {
    bool fold = false;
    bool dotall = false;
  };

  // ---------------------------------------------------------------- parsing

  [[noreturn]] void syntax_error(size_t pos, std::string_view what) const {
    fail(ErrorCategory::kTokenizer, "regex '", pattern_, "': ", what, " at byte ", pos);
  }
  [[noreturn]] void unsupported(size_t pos, std::string_view what) const {
    fail(ErrorCategory::kUnsupported, "regex '", pattern_, "': unsupported ", what, " at byte ",
         pos);
  }

  bool at_end() const { return pos_ >= pattern_.size(); }
  char peek(size_t ahead = 0) const {
    return pos_ + ahead < pattern_.size() ? pattern_[pos_ + ahead] : '\0';
  }

  char32_t next_code_point() {
    const utf8::Decoded d = utf8::decode(pattern_, pos_);
    if (!d.valid) syntax_error(pos_, "ill-formed UTF-8");
    pos_ += d.length;
    return d.code_point;
  }

  uint32_t add_node(Node node) {
    nodes_.push_back(std::move(node));
    return static_cast<uint32_t>(nodes_.size() - 1);
  }

  uint32_t parse_alternation(Flags flags, int depth) {
    if (depth > kMaxNesting) syntax_error(pos_, "groups nested too deeply");
    Node alt{Node::kAlt};
    alt.children.push_back(parse_concat(flags, depth));
    while (!at_end() && peek() == '|') {
      ++pos_;
      alt.children.push_back(parse_concat(flags, depth));
    }
    if (alt.children.size() == 1) return alt.children[0];
    return add_node(std::move(alt));
  }

  uint32_t parse_concat(Flags& flags, int depth) {
    Node cat{Node::kConcat};
    while (!at_end() && peek() != '|' && peek() != ')') {
      const size_t start = pos_;
      // Scoped flag groups "(?i)" change the flags of the rest of the enclosing group.
      if (peek() == '(' && peek(1) == '?') {
        size_t p = pos_ + 2;
        Flags f = flags;
        if (parse_flag_letters(p, f) && p < pattern_.size() && pattern_[p] == ')') {
          pos_ = p + 1;
          flags = f;
          continue;
        }
      }
      uint32_t atom = parse_atom(flags, depth);
      atom = parse_quantifiers(atom, start);
      cat.children.push_back(atom);
    }
    if (cat.children.empty()) return add_node(Node{Node::kEmpty});
    if (cat.children.size() == 1) return cat.children[0];
    return add_node(std::move(cat));
  }

  // Reads "i", "m", "-i", "im-m" ... at p; returns false when p does not start flag letters.
  bool parse_flag_letters(size_t& p, Flags& f) const {
    bool on = true;
    bool any = false;
    while (p < pattern_.size()) {
      const char c = pattern_[p];
      if (c == '-') {
        if (!on) return false;
        on = false;
      } else if (c == 'i') {
        f.fold = on;
      } else if (c == 'm' || c == 's') {
        f.dotall = on;  // Oniguruma's (?m) is Perl's (?s)
      } else if (c == 'x') {
        unsupported(p, "flag (?x)");
      } else {
        break;
      }
      any = true;
      ++p;
    }
    return any;
  }

  // `exact` reports the "{n}" form, after which '?' is not a lazy modifier in Oniguruma
  // (a{n}? means (?:a{n})?).
  bool parse_interval(size_t& p, int32_t& min, int32_t& max, bool* exact = nullptr) const {
    // "{n}", "{n,}", "{n,m}", "{,m}"; anything else is a literal '{' in Oniguruma.
    size_t q = p + 1;
    auto read_number = [&](int32_t& v) {
      const size_t s = q;
      int64_t value = 0;
      while (q < pattern_.size() && pattern_[q] >= '0' && pattern_[q] <= '9') {
        value = value * 10 + (pattern_[q] - '0');
        if (value > kMaxRepeat) syntax_error(p, "repetition count too large");
        ++q;
      }
      v = static_cast<int32_t>(value);
      return q > s;
    };
    int32_t lo = 0, hi = 0;
    const bool has_lo = read_number(lo);
    if (q < pattern_.size() && pattern_[q] == '}') {
      if (!has_lo) return false;
      min = max = lo;
      p = q + 1;
      if (exact) *exact = true;
      return true;
    }
    if (q >= pattern_.size() || pattern_[q] != ',') return false;
    ++q;
    const bool has_hi = read_number(hi);
    if (q >= pattern_.size() || pattern_[q] != '}') return false;
    if (!has_lo && !has_hi) return false;
    min = has_lo ? lo : 0;
    max = has_hi ? hi : kInfinite;
    if (max != kInfinite && max < min) syntax_error(p, "repetition range {n,m} with n > m");
    p = q + 1;
    return true;
  }

  uint32_t parse_quantifiers(uint32_t atom, size_t atom_start) {
    while (!at_end()) {
      const char c = peek();
      int32_t min = 0, max = 0;
      bool interval = false;
      bool exact = false;
      if (c == '?') {
        min = 0, max = 1;
        ++pos_;
      } else if (c == '*') {
        min = 0, max = kInfinite;
        ++pos_;
      } else if (c == '+') {
        min = 1, max = kInfinite;
        ++pos_;
      } else if (c == '{') {
        size_t p = pos_;
        if (!parse_interval(p, min, max, &exact)) break;
        pos_ = p;
        interval = true;
      } else {
        break;
      }
      const Node::Kind kind = nodes_[atom].kind;
      if (kind == Node::kLook || kind == Node::kAssert || kind == Node::kEmpty) {
        syntax_error(atom_start, "quantifier on something that cannot be repeated");
      }
      Node rep{Node::kRepeat};
      rep.children.push_back(atom);
      rep.min = min;
      rep.max = max;
      if (!at_end() && peek() == '?' && !exact) {
        rep.greed = Greed::kLazy;
        ++pos_;
      } else if (!interval && !at_end() && peek() == '+') {
        rep.greed = Greed::kPossessive;
        ++pos_;
      }
      atom = add_node(std::move(rep));
    }
    return atom;
  }

  uint32_t class_node(CharClass cls) {
    classes_.push_back(std::move(cls));
    Node n{Node::kClass};
    n.cls = static_cast<uint32_t>(classes_.size() - 1);
    return add_node(std::move(n));
  }

  uint32_t char_node(char32_t cp, const Flags& flags) {
    Node n{Node::kChar};
    n.cp = cp;
    bool has_variant = false;
    if (flags.fold) for_each_case_variant(cp, [&](char32_t) { has_variant = true; });
    n.fold = has_variant;
    if (n.fold) n.cp = simple_fold(cp);
    return add_node(std::move(n));
  }

  uint32_t parse_atom(Flags flags, int depth) {
    const size_t start = pos_;
    const char c = peek();
    switch (c) {
      case '(':
        return parse_group(flags, depth);
      case '[': {
        CharClass cls = parse_class(depth);
        cls.fold = flags.fold;
        return class_node(std::move(cls));
      }
      case '.': {
        ++pos_;
        Node n{Node::kAny};
        n.dotall = flags.dotall;
        return add_node(std::move(n));
      }
      case '^':
      case '$': {
        ++pos_;
        Node n{Node::kAssert};
        n.assertion = c == '^' ? Assert::kLineStart : Assert::kLineEnd;
        return add_node(std::move(n));
      }
      case '\\':
        return parse_escape(flags);
      case '*':
      case '+':
      case '?':
        syntax_error(start, "quantifier without a target");
      case '{': {
        size_t p = pos_;
        int32_t lo = 0, hi = 0;
        if (parse_interval(p, lo, hi)) syntax_error(start, "quantifier without a target");
        ++pos_;
        return char_node('{', flags);
      }
      default:
        return char_node(next_code_point(), flags);
    }
  }

  uint32_t parse_group(Flags flags, int depth) {
    const size_t start = pos_;
    ++pos_;  // '('
    std::optional<Look> look;
    if (peek() == '?') {
      const char k = peek(1);
      if (k == ':') {
        pos_ += 2;
      } else if (k == '=') {
        pos_ += 2;
        look = Look::kAhead;
      } else if (k == '!') {
        pos_ += 2;
        look = Look::kNegativeAhead;
      } else if (k == '>') {
        pos_ += 2;
        look = Look::kAtomic;
      } else if (k == '<' && (peek(2) == '=' || peek(2) == '!')) {
        unsupported(start, "lookbehind");
      } else if (k == '<' || k == 'P' || k == '\'') {
        // Named group: groups do not capture here, so the name is irrelevant.
        const char close = k == '\'' ? '\'' : '>';
        size_t p = pos_ + 2 + (k == 'P' ? 1 : 0);
        if (k == 'P' && (pos_ + 2 >= pattern_.size() || pattern_[pos_ + 2] != '<')) {
          unsupported(start, "group syntax");
        }
        while (p < pattern_.size() && pattern_[p] != close) ++p;
        if (p >= pattern_.size()) syntax_error(start, "unterminated group name");
        pos_ = p + 1;
      } else if (k == '#') {
        // Comment group.
        size_t p = pos_ + 2;
        while (p < pattern_.size() && pattern_[p] != ')') ++p;
        if (p >= pattern_.size()) syntax_error(start, "unterminated comment group");
        pos_ = p + 1;
        return add_node(Node{Node::kEmpty});
      } else {
        size_t p = pos_ + 1;
        Flags f = flags;
        if (parse_flag_letters(p, f) && p < pattern_.size() && pattern_[p] == ':') {
          pos_ = p + 1;
          flags = f;
        } else {
          unsupported(start, "group syntax '(?" + std::string(1, k) + "'");
        }
      }
    }
    const uint32_t body = parse_alternation(flags, depth + 1);
    if (at_end() || peek() != ')') syntax_error(start, "unbalanced parenthesis");
    ++pos_;
    if (!look) return body;
    uses_lookaround_ = true;
    Node n{Node::kLook};
    n.look = *look;
    n.children.push_back(body);
    return add_node(std::move(n));
  }

  uint32_t hex_value(size_t& p, size_t max_digits, bool braces) {
    const size_t start = p;
    uint64_t v = 0;
    size_t digits = 0;
    while (p < pattern_.size() && digits < max_digits) {
      const char c = pattern_[p];
      int d;
      if (c >= '0' && c <= '9') d = c - '0';
      else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
      else break;
      v = v * 16 + static_cast<uint64_t>(d);
      if (v > utf8::kMaxCodePoint) syntax_error(start, "code point out of range");
      ++p;
      ++digits;
    }
    if (digits == 0 || (!braces && max_digits == 4 && digits != 4)) {
      syntax_error(start, "invalid hexadecimal escape");
    }
    return static_cast<uint32_t>(v);
  }

  // Parses the escape at pos_ ('\\' included) into either a literal code point or a class item.
  // Returns true with `item` set for class escapes, false with `cp` set for literals.
  bool parse_escape_item(char32_t& cp, ClassItem& item, bool in_class) {
    const size_t start = pos_;
    ++pos_;
    if (at_end()) syntax_error(start, "trailing backslash");
    const char c = peek();
    ++pos_;
    switch (c) {
      case 'd': case 'D':
        item = {ClassItem::kCategories, c == 'D', 0, 0, category_bit(GeneralCategory::kNd)};
        return true;
      case 'w': case 'W':
        item = {ClassItem::kWord, c == 'W'};
        return true;
      case 's': case 'S':
        item = {ClassItem::kWhiteSpace, c == 'S'};
        return true;
      case 'h': case 'H':
        item = {ClassItem::kHexDigit, c == 'H'};
        return true;
      case 'p': case 'P': {
        bool negated = c == 'P';
        std::string name;
        if (peek() == '{') {
          const size_t close = pattern_.find('}', pos_);
          if (close == std::string::npos) syntax_error(start, "unterminated \\p{");
          name = pattern_.substr(pos_ + 1, close - pos_ - 1);
          pos_ = close + 1;
          if (!name.empty() && name[0] == '^') {
            negated = !negated;
            name.erase(0, 1);
          }
        } else if (!at_end()) {
          name = std::string(1, peek());
          ++pos_;
        }
        item = property_item(name, start);
        item.negated = negated;
        return true;
      }
      case 'n': cp = '\n'; return false;
      case 'r': cp = '\r'; return false;
      case 't': cp = '\t'; return false;
      case 'f': cp = '\f'; return false;
      case 'v': cp = '\v'; return false;
      case 'a': cp = 0x07; return false;
      case 'e': cp = 0x1B; return false;
      case '0': {
        // \0, \0n, \0nn: an octal byte value.
        uint32_t v = 0;
        for (int k = 0; k < 2 && peek() >= '0' && peek() <= '7'; ++k) {
          v = v * 8 + static_cast<uint32_t>(peek() - '0');
          ++pos_;
        }
        if (v >= 0x80) unsupported(start, "octal escape of a non-ASCII byte");
        cp = v;
        return false;
      }
      case 'b':
        if (in_class) {
          cp = 0x08;
          return false;
        }
        break;
      case 'x': {
        size_t p = pos_;
        if (peek() == '{') {
          ++p;
          cp = hex_value(p, 8, true);
          if (p >= pattern_.size() || pattern_[p] != '}') syntax_error(start, "unterminated \\x{");
          pos_ = p + 1;
        } else {
          // Oniguruma reads \xHH as an encoded *byte*: above 0x7F that is a fragment of a UTF-8
          // sequence, which a code-point engine cannot express.
          cp = hex_value(p, 2, false);
          if (cp >= 0x80) unsupported(start, "\\xHH escape of a non-ASCII byte (use \\x{HHHH})");
          pos_ = p;
        }
        return false;
      }
      case 'u': {
        size_t p = pos_;
        cp = hex_value(p, 4, false);
        pos_ = p;
        return false;
      }
      default:
        break;
    }
    if ((c >= '1' && c <= '9') || c == 'k' || c == 'g') unsupported(start, "backreference or subroutine");
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      unsupported(start, std::string("escape '\\") + c + "'");
    }
    pos_ = start + 1;
    cp = next_code_point();  // escaped punctuation or any other character: itself
    return false;
  }

  ClassItem property_item(const std::string& raw, size_t where) const {
    std::string name;
    for (char ch : raw) {
      if (ch == ' ' || ch == '_' || ch == '-') continue;
      name += static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    }
    struct Entry { const char* a; const char* b; CategoryMask mask; };
    using G = GeneralCategory;
    const auto bit = [](G g) { return category_bit(g); };
    const Entry table[] = {
        {"l", "letter", kLetterMask},
        {"lu", "uppercaseletter", bit(G::kLu)},
        {"ll", "lowercaseletter", bit(G::kLl)},
        {"lt", "titlecaseletter", bit(G::kLt)},
        {"lc", "casedletter", bit(G::kLu) | bit(G::kLl) | bit(G::kLt)},
        {"l&", "casedletter", bit(G::kLu) | bit(G::kLl) | bit(G::kLt)},
        {"lm", "modifierletter", bit(G::kLm)},
        {"lo", "otherletter", bit(G::kLo)},
        {"m", "mark", kMarkMask},
        {"m", "combiningmark", kMarkMask},
        {"mn", "nonspacingmark", bit(G::kMn)},
        {"mc", "spacingmark", bit(G::kMc)},
        {"me", "enclosingmark", bit(G::kMe)},
        {"n", "number", kNumberMask},
        {"nd", "decimalnumber", bit(G::kNd)},
        {"nd", "digit", bit(G::kNd)},
        {"nl", "letternumber", bit(G::kNl)},
        {"no", "othernumber", bit(G::kNo)},
        {"p", "punctuation", kPunctuationMask},
        {"pc", "connectorpunctuation", bit(G::kPc)},
        {"pd", "dashpunctuation", bit(G::kPd)},
        {"ps", "openpunctuation", bit(G::kPs)},
        {"pe", "closepunctuation", bit(G::kPe)},
        {"pi", "initialpunctuation", bit(G::kPi)},
        {"pf", "finalpunctuation", bit(G::kPf)},
        {"po", "otherpunctuation", bit(G::kPo)},
        {"s", "symbol", kSymbolMask},
        {"sm", "mathsymbol", bit(G::kSm)},
        {"sc", "currencysymbol", bit(G::kSc)},
        {"sk", "modifiersymbol", bit(G::kSk)},
        {"so", "othersymbol", bit(G::kSo)},
        {"z", "separator", kSeparatorMask},
        {"zs", "spaceseparator", bit(G::kZs)},
        {"zl", "lineseparator", bit(G::kZl)},
        {"zp", "paragraphseparator", bit(G::kZp)},
        {"c", "other", kOtherMask},
        {"cc", "control", bit(G::kCc)},
        {"cf", "format", bit(G::kCf)},
        {"cs", "surrogate", bit(G::kCs)},
        {"co", "privateuse", bit(G::kCo)},
        {"cn", "unassigned", bit(G::kCn)},
        {"any", "any", (CategoryMask{1} << kGeneralCategoryCount) - 1},
        {"assigned", "assigned", ((CategoryMask{1} << kGeneralCategoryCount) - 1) & ~bit(G::kCn)},
    };
    for (const Entry& e : table) {
      if (name == e.a || name == e.b) return {ClassItem::kCategories, false, 0, 0, e.mask};
    }
    if (name == "ascii") return {ClassItem::kRange, false, 0, 0x7F};
    if (name == "whitespace" || name == "space") return {ClassItem::kWhiteSpace};
    if (name == "word") return {ClassItem::kWord};
    if (name == "xdigit") return {ClassItem::kHexDigit};
    unsupported(where, "Unicode property '" + raw + "'");
  }

  uint32_t parse_escape(Flags flags) {
    const char c = peek(1);
    Assert a{};
    bool is_assert = true;
    switch (c) {
      case 'b': a = Assert::kWordBoundary; break;
      case 'B': a = Assert::kNotWordBoundary; break;
      case 'A': a = Assert::kTextStart; break;
      case 'z': a = Assert::kTextEnd; break;
      case 'Z': a = Assert::kTextEndNewline; break;
      default: is_assert = false;
    }
    if (is_assert) {
      pos_ += 2;
      Node n{Node::kAssert};
      n.assertion = a;
      return add_node(std::move(n));
    }
    if (c == 'N' || c == 'O') {
      // \N: any character but newline; \O: any character (Oniguruma).
      pos_ += 2;
      Node n{Node::kAny};
      n.dotall = c == 'O';
      return add_node(std::move(n));
    }
    char32_t cp = 0;
    ClassItem item{ClassItem::kRange};
    if (parse_escape_item(cp, item, false)) {
      CharClass cls;
      cls.items.push_back(item);
      cls.fold = flags.fold;
      return class_node(std::move(cls));
    }
    return char_node(cp, flags);
  }

  CharClass parse_class(int depth) {
    if (depth > kMaxNesting) syntax_error(pos_, "classes nested too deeply");
    const size_t start = pos_;
    ++pos_;  // '['
    CharClass cls;
    if (peek() == '^') {
      cls.negated = true;
      ++pos_;
    }
    if (peek() == '[' && peek(1) == ':') unsupported(pos_, "POSIX bracket expression");
    bool first = true;
    while (true) {
      if (at_end()) syntax_error(start, "unterminated character class");
      const char c = peek();
      if (c == ']' && !first) {
        ++pos_;
        break;
      }
      first = false;
      if (c == '[') {
        if (peek(1) == ':') unsupported(pos_, "POSIX bracket expression");
        CharClass nested = parse_class(depth + 1);
        classes_.push_back(std::move(nested));
        ClassItem item{ClassItem::kNested};
        item.nested = static_cast<uint32_t>(classes_.size() - 1);
        cls.items.push_back(item);
        continue;
      }
      if (c == '&' && peek(1) == '&') unsupported(pos_, "class intersection '&&'");
      char32_t lo = 0;
      if (c == '\\') {
        ClassItem item{ClassItem::kRange};
        if (parse_escape_item(lo, item, true)) {
          cls.items.push_back(item);
          continue;
        }
      } else {
        lo = next_code_point();
      }
      // A range "lo-hi" unless '-' is the last character of the class.
      if (peek() == '-' && peek(1) != ']' && pos_ + 1 < pattern_.size()) {
        const size_t dash = pos_;
        ++pos_;
        char32_t hi = 0;
        if (peek() == '\\') {
          ClassItem item{ClassItem::kRange};
          if (parse_escape_item(hi, item, true)) syntax_error(dash, "class escape as a range end");
        } else if (peek() == '[') {
          syntax_error(dash, "class as a range end");
        } else {
          hi = next_code_point();
        }
        if (hi < lo) syntax_error(dash, "empty range in character class");
        cls.items.push_back({ClassItem::kRange, false, lo, hi});
        continue;
      }
      cls.items.push_back({ClassItem::kRange, false, lo, lo});
    }
    return cls;
  }

  // ---------------------------------------------------------------- analysis

  bool nullable(uint32_t id) const {
    const Node& n = nodes_[id];
    switch (n.kind) {
      case Node::kEmpty: case Node::kLook: case Node::kAssert: return true;
      case Node::kChar: case Node::kAny: case Node::kClass: return false;
      case Node::kConcat:
        return std::all_of(n.children.begin(), n.children.end(), [&](uint32_t c) { return nullable(c); });
      case Node::kAlt:
        return std::any_of(n.children.begin(), n.children.end(), [&](uint32_t c) { return nullable(c); });
      case Node::kRepeat: return n.min == 0 || nullable(n.children[0]);
    }
    return true;
  }

  static void set_byte(std::array<uint64_t, 4>& set, unsigned b) { set[b >> 6] |= uint64_t{1} << (b & 63); }
  static void set_non_ascii_leads(std::array<uint64_t, 4>& set) {
    for (unsigned b = 0xC2; b <= 0xF4; ++b) set_byte(set, b);
  }
  static void add_lead_byte(std::array<uint64_t, 4>& set, char32_t cp) {
    std::string enc;
    utf8::append(enc, cp);
    set_byte(set, static_cast<unsigned char>(enc[0]));
  }

  // Bytes that can start a match of node `id` (only meaningful when the node is not nullable).
  void first_bytes(uint32_t id, std::array<uint64_t, 4>& set) const {
    const Node& n = nodes_[id];
    switch (n.kind) {
      case Node::kEmpty: case Node::kLook: case Node::kAssert: return;
      case Node::kChar:
        add_lead_byte(set, n.cp);
        if (n.fold) for_each_case_variant(n.cp, [&](char32_t v) { add_lead_byte(set, v); });
        return;
      case Node::kAny:
        for (unsigned b = 0; b < 0x80; ++b) {
          if (b != '\n' || n.dotall) set_byte(set, b);
        }
        set_non_ascii_leads(set);
        return;
      case Node::kClass: {
        const CharClass& cls = classes_[n.cls];
        for (unsigned b = 0; b < 0x80; ++b) {
          if (cls.ascii[b >> 6] >> (b & 63) & 1) set_byte(set, b);
        }
        set_non_ascii_leads(set);  // conservative for non-ASCII members
        return;
      }
      case Node::kConcat:
        for (uint32_t c : n.children) {
          first_bytes(c, set);
          if (!nullable(c)) return;
        }
        return;
      case Node::kAlt:
        for (uint32_t c : n.children) first_bytes(c, set);
        return;
      case Node::kRepeat:
        first_bytes(n.children[0], set);
        return;
    }
  }

  bool class_contains_raw(const CharClass& cls, char32_t cp) const {
    for (const ClassItem& item : cls.items) {
      bool m = false;
      switch (item.kind) {
        case ClassItem::kRange: m = cp >= item.lo && cp <= item.hi; break;
        case ClassItem::kCategories: m = in_categories(cp, item.mask); break;
        case ClassItem::kWhiteSpace: m = is_white_space(cp); break;
        case ClassItem::kWord: m = is_regex_word_char(cp); break;
        case ClassItem::kHexDigit:
          m = (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'f') || (cp >= 'A' && cp <= 'F');
          break;
        case ClassItem::kNested: m = class_matches_slow(classes_[item.nested], cp); break;
      }
      if (m != item.negated) return true;
    }
    return false;
  }

  bool class_matches_slow(const CharClass& cls, char32_t cp) const {
    bool in = class_contains_raw(cls, cp);
    if (!in && cls.fold) {
      for_each_case_variant(cp, [&](char32_t v) {
        if (!in && class_contains_raw(cls, v)) in = true;
      });
    }
    return in != cls.negated;
  }

  bool class_matches(const CharClass& cls, char32_t cp) const {
    if (cp < 0x80) return cls.ascii[cp >> 6] >> (cp & 63) & 1;
    return class_matches_slow(cls, cp);
  }

  // ---------------------------------------------------------------- code generation

  uint32_t emit(Inst inst) {
    if (program_.size() >= kMaxProgram) unsupported(0, "pattern size (too many repetitions)");
    program_.push_back(inst);
    return static_cast<uint32_t>(program_.size() - 1);
  }

  bool is_single_char(uint32_t id) const {
    const Node::Kind k = nodes_[id].kind;
    return k == Node::kChar || k == Node::kAny || k == Node::kClass;
  }

  Inst single_char_inst(uint32_t id) const {
    const Node& n = nodes_[id];
    switch (n.kind) {
      case Node::kChar: return Inst{n.fold ? Op::kCharFold : Op::kChar, 0, n.cp};
      case Node::kAny: return Inst{n.dotall ? Op::kAnyNewline : Op::kAny};
      default: return Inst{Op::kClass, 0, n.cls};
    }
  }

  void gen(uint32_t id) {
    const Node& n = nodes_[id];
    switch (n.kind) {
      case Node::kEmpty: return;
      case Node::kChar: case Node::kAny: case Node::kClass:
        emit(single_char_inst(id));
        return;
      case Node::kAssert:
        emit(Inst{Op::kAssert, 0, static_cast<uint32_t>(n.assertion)});
        return;
      case Node::kConcat:
        for (uint32_t c : n.children) gen(c);
        return;
      case Node::kAlt: {
        std::vector<uint32_t> jumps;
        for (size_t i = 0; i < n.children.size(); ++i) {
          if (i + 1 < n.children.size()) {
            const uint32_t split = emit(Inst{Op::kSplit});
            program_[split].min = guard_for(n.children[i]);
            program_[split].a = static_cast<uint32_t>(program_.size());
            gen(n.children[i]);
            jumps.push_back(emit(Inst{Op::kJmp}));
            program_[split].b = static_cast<uint32_t>(program_.size());
          } else {
            gen(n.children[i]);
          }
        }
        for (uint32_t j : jumps) program_[j].a = static_cast<uint32_t>(program_.size());
        return;
      }
      case Node::kLook: {
        const uint32_t look = emit(Inst{Op::kLook, 0, static_cast<uint32_t>(n.look)});
        gen(n.children[0]);
        emit(Inst{Op::kLookEnd});
        program_[look].b = static_cast<uint32_t>(program_.size());
        return;
      }
      case Node::kRepeat:
        gen_repeat(n);
        return;
    }
  }

  void gen_repeat(const Node& n) {
    const uint32_t child = n.children[0];
    if (is_single_char(child)) {
      items_.push_back(single_char_inst(child));
      Inst inst{Op::kRepeat, static_cast<uint8_t>(n.greed), static_cast<uint32_t>(items_.size() - 1)};
      inst.min = n.min;
      inst.max = n.max;
      emit(inst);
      return;
    }
    if (n.greed == Greed::kPossessive) {
      // X*+ is (?>X*).
      const uint32_t look = emit(Inst{Op::kLook, 0, static_cast<uint32_t>(Look::kAtomic)});
      Node greedy = n;
      greedy.greed = Greed::kGreedy;
      gen_repeat(greedy);
      emit(Inst{Op::kLookEnd});
      program_[look].b = static_cast<uint32_t>(program_.size());
      return;
    }
    const bool lazy = n.greed == Greed::kLazy;
    for (int32_t i = 0; i < n.min; ++i) gen(child);
    if (n.max == kInfinite) {
      const bool check = nullable(child);
      const uint32_t mark = check ? mark_count_++ : 0;
      const uint32_t loop = emit(Inst{Op::kSplit});
      const uint32_t body = static_cast<uint32_t>(program_.size());
      if (check) emit(Inst{Op::kSetMark, 0, mark});
      gen(child);
      if (check) emit(Inst{Op::kCheckMark, 0, mark});
      emit(Inst{Op::kJmp, 0, loop});
      const uint32_t exit = static_cast<uint32_t>(program_.size());
      program_[loop].a = lazy ? exit : body;
      program_[loop].b = lazy ? body : exit;
      if (!lazy) program_[loop].min = guard_for(child);
      return;
    }
    std::vector<uint32_t> splits;
    for (int32_t i = n.min; i < n.max; ++i) {
      splits.push_back(emit(Inst{Op::kSplit}));
      program_[splits.back()].a = static_cast<uint32_t>(program_.size());  // the body
      gen(child);
    }
    const uint32_t exit = static_cast<uint32_t>(program_.size());
    const int32_t guard = lazy ? 0 : guard_for(child);
    for (uint32_t s : splits) {
      const uint32_t body = program_[s].a;
      program_[s].a = lazy ? exit : body;
      program_[s].b = lazy ? body : exit;
      program_[s].min = guard;
    }
  }

  // A byte-set guard for a branch that cannot match empty: the VM skips the branch without a
  // backtrack entry when the next byte cannot start it (most alternatives of a tokenizer
  // pattern fail on their first character). Returns guards_ index + 1, or 0 for no guard.
  int32_t guard_for(uint32_t node) {
    if (nullable(node)) return 0;
    std::array<uint64_t, 4> set{};
    first_bytes(node, set);
    guards_.push_back(set);
    return static_cast<int32_t>(guards_.size());
  }

  void compute_ascii(CharClass& cls) {
    for (auto& item : cls.items) {
      if (item.kind == ClassItem::kNested) compute_ascii(classes_[item.nested]);
    }
    cls.ascii = {0, 0};
    for (char32_t cp = 0; cp < 0x80; ++cp) {
      if (class_matches_slow(cls, cp)) cls.ascii[cp >> 6] |= uint64_t{1} << (cp & 63);
    }
  }

  void compile() {
    pos_ = 0;
    const uint32_t root = parse_alternation(Flags{}, 0);
    if (!at_end()) syntax_error(pos_, "unbalanced parenthesis");
    for (auto& cls : classes_) compute_ascii(cls);

    // A pure literal (the escaped String patterns of Split and Replace) is searched with find().
    const Node& r = nodes_[root];
    auto literal_char = [&](uint32_t id) { return nodes_[id].kind == Node::kChar && !nodes_[id].fold; };
    if (literal_char(root) || r.kind == Node::kEmpty ||
        (r.kind == Node::kConcat &&
         std::all_of(r.children.begin(), r.children.end(), literal_char))) {
      std::string lit;
      if (r.kind == Node::kChar) utf8::append(lit, r.cp);
      if (r.kind == Node::kConcat) for (uint32_t c : r.children) utf8::append(lit, nodes_[c].cp);
      literal_ = std::move(lit);
    }

    nullable_ = nullable(root);
    first_bytes_ = {};
    if (!nullable_) first_bytes(root, first_bytes_);
    gen(root);
    emit(Inst{Op::kMatch});
    nodes_.clear();
    nodes_.shrink_to_fit();
  }

  // ---------------------------------------------------------------- matching

  // Matches the single-character instruction at `pos`; sets `len` on success.
  [[gnu::always_inline]] bool match_one(const Inst& inst, std::string_view text, size_t pos,
                                        uint32_t& len) const {
    if (pos >= text.size()) return false;
    const auto b = static_cast<unsigned char>(text[pos]);
    if (b < 0x80) {
      len = 1;
      switch (inst.op) {
        case Op::kChar: return b == inst.a;
        case Op::kCharFold: return simple_fold(b) == inst.a;
        case Op::kAny: return b != '\n';
        case Op::kAnyNewline: return true;
        case Op::kClass: {
          const CharClass& cls = classes_[inst.a];
          return cls.ascii[b >> 6] >> (b & 63) & 1;
        }
        default: return false;
      }
    }
    const char32_t cp = utf8::decode_valid(text.data() + pos, len);
    switch (inst.op) {
      case Op::kChar: return cp == inst.a;
      case Op::kCharFold: return simple_fold(cp) == inst.a;
      case Op::kAny: case Op::kAnyNewline: return true;
      case Op::kClass: return class_matches(classes_[inst.a], cp);
      default: return false;
    }
  }

  bool word_before(std::string_view text, size_t pos) const {
    if (pos == 0) return false;
    size_t p = pos - 1;
    while (p > 0 && (static_cast<unsigned char>(text[p]) & 0xC0) == 0x80) --p;
    uint32_t len = 0;
    return is_regex_word_char(utf8::decode_valid(text.data() + p, len));
  }
  bool word_at(std::string_view text, size_t pos) const {
    if (pos >= text.size()) return false;
    uint32_t len = 0;
    return is_regex_word_char(utf8::decode_valid(text.data() + pos, len));
  }

  bool check_assert(Assert a, std::string_view text, size_t pos) const {
    switch (a) {
      case Assert::kLineStart: return pos == 0 || text[pos - 1] == '\n';
      case Assert::kLineEnd: return pos == text.size() || text[pos] == '\n';
      case Assert::kTextStart: return pos == 0;
      case Assert::kTextEnd: return pos == text.size();
      case Assert::kTextEndNewline:
        return pos == text.size() || (pos + 1 == text.size() && text[pos] == '\n');
      case Assert::kWordBoundary: return word_before(text, pos) != word_at(text, pos);
      case Assert::kNotWordBoundary: return word_before(text, pos) == word_at(text, pos);
    }
    return false;
  }

  static size_t previous_boundary(std::string_view text, size_t pos) {
    size_t p = pos - 1;
    while (p > 0 && (static_cast<unsigned char>(text[p]) & 0xC0) == 0x80) --p;
    return p;
  }

  [[noreturn]] void budget_exceeded(std::string_view text, RegexScratch& s, size_t base) const {
    s.top = base;
    fail(ErrorCategory::kTokenizer, "regex '", pattern_, "': backtracking limit exceeded on a subject of ",
         text.size(), " bytes");
  }

  // Runs the program from `pc` at `pos`; on success sets `end` and returns true. Backtrack
  // entries above the entry depth are discarded on return, which makes lookarounds and atomic
  // groups (run as nested calls) atomic, as in Oniguruma.
  bool run(std::string_view text, RegexScratch& s, uint32_t pc, size_t pos, size_t& end) const {
    const size_t base = s.top;
    // Pushes a backtrack entry; the vector only grows, so a warm scratch never allocates.
    const auto push = [&s](RegexScratch::Frame f) {
      if (s.top == s.stack.size()) [[unlikely]] s.stack.resize(s.stack.size() * 2 + 32);
      s.stack[s.top++] = f;
    };
    while (true) {
      if (s.budget-- == 0) [[unlikely]] budget_exceeded(text, s, base);
      const Inst& inst = program_[pc];
      bool ok = true;
      switch (inst.op) {
        case Op::kChar: case Op::kCharFold: case Op::kAny: case Op::kAnyNewline: case Op::kClass: {
          uint32_t len = 0;
          if (match_one(inst, text, pos, len)) {
            pos += len;
            ++pc;
          } else {
            ok = false;
          }
          break;
        }
        case Op::kRepeat: {
          const Inst& item = items_[inst.a];
          const auto greed = static_cast<Greed>(inst.greed);
          int64_t count = 0;
          uint32_t len = 0;
          while (count < inst.min && match_one(item, text, pos, len)) {
            pos += len;
            ++count;
          }
          if (count < inst.min) {
            ok = false;
            break;
          }
          if (greed == Greed::kLazy) {
            if (inst.max == kInfinite || count < inst.max) {
              push({kFrameLazy, pc, pos, static_cast<size_t>(count)});
            }
            ++pc;
            break;
          }
          const size_t min_pos = pos;
          while ((inst.max == kInfinite || count < inst.max) && match_one(item, text, pos, len)) {
            pos += len;
            ++count;
          }
          if (greed == Greed::kGreedy && pos > min_pos) {
            push({kFrameGreedy, pc + 1, pos, min_pos});
          }
          ++pc;
          break;
        }
        case Op::kSplit:
          if (inst.min > 0) {
            const auto& guard = guards_[static_cast<size_t>(inst.min - 1)];
            if (pos >= text.size()) {
              pc = inst.b;
              break;
            }
            const auto b = static_cast<unsigned char>(text[pos]);
            if (!(guard[b >> 6] >> (b & 63) & 1)) {
              pc = inst.b;
              break;
            }
          }
          push({kFrameBranch, inst.b, pos, 0});
          pc = inst.a;
          break;
        case Op::kJmp:
          pc = inst.a;
          break;
        case Op::kAssert:
          if (check_assert(static_cast<Assert>(inst.a), text, pos)) {
            ++pc;
          } else {
            ok = false;
          }
          break;
        case Op::kLook: {
          size_t sub_end = 0;
          const bool matched = run(text, s, pc + 1, pos, sub_end);
          const auto look = static_cast<Look>(inst.a);
          if (look == Look::kNegativeAhead ? matched : !matched) {
            ok = false;
          } else {
            if (look == Look::kAtomic) pos = sub_end;
            pc = inst.b;
          }
          break;
        }
        case Op::kLookEnd:
        case Op::kMatch:
          end = pos;
          s.top = base;
          return true;
        case Op::kSetMark:
          push({kFrameMark, inst.a, s.marks[inst.a], 0});
          s.marks[inst.a] = pos;
          ++pc;
          break;
        case Op::kCheckMark:
          if (s.marks[inst.a] == pos) {
            ok = false;
          } else {
            ++pc;
          }
          break;
      }
      if (ok) continue;

      // Backtrack.
      bool resumed = false;
      while (!resumed) {
        if (s.top == base) return false;
        if (s.budget-- == 0) budget_exceeded(text, s, base);
        RegexScratch::Frame& f = s.stack[s.top - 1];
        switch (f.kind) {
          case kFrameBranch:
            pc = f.pc;
            pos = f.pos;
            --s.top;
            resumed = true;
            break;
          case kFrameGreedy:
            // Give back one character of a greedy single-character repetition.
            f.pos = previous_boundary(text, f.pos);
            pc = f.pc;
            pos = f.pos;
            if (f.pos == f.aux) --s.top;
            resumed = true;
            break;
          case kFrameLazy: {
            // Take one more character of a lazy single-character repetition.
            const Inst& rep = program_[f.pc];
            uint32_t len = 0;
            if (!match_one(items_[rep.a], text, f.pos, len)) {
              --s.top;
              break;
            }
            f.pos += len;
            ++f.aux;
            pc = f.pc + 1;
            pos = f.pos;
            if (rep.max != kInfinite && f.aux >= static_cast<size_t>(rep.max)) --s.top;
            resumed = true;
            break;
          }
          case kFrameMark:
            s.marks[f.pc] = f.pos;
            --s.top;
            break;
        }
      }
    }
  }

  std::string pattern_;
  size_t pos_ = 0;  // parser cursor
  std::vector<Node> nodes_;  // parse tree, dropped after compilation
  std::vector<CharClass> classes_;
  std::vector<Inst> program_;
  std::vector<Inst> items_;  // the repeated item of each kRepeat
  std::vector<std::array<uint64_t, 4>> guards_;  // first-byte sets of guarded kSplit branches
  uint32_t mark_count_ = 0;
  bool nullable_ = false;
  bool uses_lookaround_ = false;
  std::array<uint64_t, 4> first_bytes_{};
  std::optional<std::string> literal_;
};

}  // namespace genarm::tokenizer
