#include "genarm/tokenizer/regex.hpp"

#include <string>
#include <thread>
#include <vector>

#include "genarm/tokenizer/pre_tokenizer.hpp"
#include "test_support.hpp"

namespace genarm::tokenizer {
namespace {

using Strings = std::vector<std::string>;

Strings matches(std::string_view pattern, std::string_view text) {
  return Regex(pattern).find_all_strings(text);
}

// The Llama 3 / Qwen2 pre-tokenizer pattern.
constexpr std::string_view kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

TEST(Regex, Gpt2PatternSplitsWordsNumbersAndPunctuation) {
  EXPECT_EQ(matches(kGpt2Pattern, "Hello world, it's 12345"),
            (Strings{"Hello", " world", ",", " it", "'s", " 12345"}));
  // Contractions are case-sensitive in GPT-2's pattern.
  EXPECT_EQ(matches(kGpt2Pattern, "I'M"), (Strings{"I", "'", "M"}));
  EXPECT_EQ(matches(kGpt2Pattern, "don't we'll"), (Strings{"don", "'t", " we", "'ll"}));
  // A combining mark is not a letter: it ends the word.
  EXPECT_EQ(matches(kGpt2Pattern, "e\u0301t\u00E9"), (Strings{"e", "\u0301", "t\u00E9"}));
  EXPECT_EQ(matches(kGpt2Pattern, "\u65E5\u672C\u8A9E!?"), (Strings{"\u65E5\u672C\u8A9E", "!?"}));
}

TEST(Regex, Gpt2PatternKeepsTheLastSpaceForTheNextWord) {
  // \s+(?!\S) backs off one character so that " b" keeps its space.
  EXPECT_EQ(matches(kGpt2Pattern, "a   b"), (Strings{"a", "  ", " b"}));
  EXPECT_EQ(matches(kGpt2Pattern, "a  "), (Strings{"a", "  "}));
  EXPECT_EQ(matches(kGpt2Pattern, "\n\nx"), (Strings{"\n", "\n", "x"}));
  EXPECT_EQ(matches(kGpt2Pattern, "x\t\ty"), (Strings{"x", "\t", "\t", "y"}));
}

TEST(Regex, Llama3PatternOnTrickyStrings) {
  // Case-insensitive contractions.
  EXPECT_EQ(matches(kLlama3, "I'M HERE"), (Strings{"I", "'M", " HERE"}));
  EXPECT_EQ(matches(kLlama3, "DON'T we'Ll"), (Strings{"DON", "'T", " we", "'Ll"}));
  // A space before an apostrophe is punctuation, not a contraction.
  EXPECT_EQ(matches(kLlama3, "it 's"), (Strings{"it", " '", "s"}));
  // Numbers in groups of at most three digits, never with a leading space.
  EXPECT_EQ(matches(kLlama3, "1234567 x"), (Strings{"123", "456", "7", " x"}));
  EXPECT_EQ(matches(kLlama3, "$100"), (Strings{"$", "100"}));
  // One non-letter (not a newline) may lead a word.
  EXPECT_EQ(matches(kLlama3, "a.b\"c"), (Strings{"a", ".b", "\"c"}));
  // Newlines: runs of whitespace ending in newlines stay together, punctuation takes trailing
  // newlines, and \s+(?!\S) leaves one space for the next word.
  EXPECT_EQ(matches(kLlama3, "x\n\n  y   z  \r\n"),
            (Strings{"x", "\n\n", " ", " y", "  ", " z", "  \r\n"}));
  EXPECT_EQ(matches(kLlama3, "hello!!!\n\nworld"), (Strings{"hello", "!!!\n\n", "world"}));
  EXPECT_EQ(matches(kLlama3, "a  \r\nb"), (Strings{"a", "  \r\n", "b"}));
}

TEST(Regex, CaseInsensitiveMatchingUsesSimpleFolding) {
  EXPECT_EQ(matches("(?i:k)", "kK\u212A"), (Strings{"k", "K", "\u212A"}));
  EXPECT_EQ(matches("(?i)[a-c]+", "AbC d"), (Strings{"AbC"}));
  EXPECT_EQ(matches("(?i)\u03C3", "\u03A3\u03C2\u03C3"), (Strings{"\u03A3", "\u03C2", "\u03C3"}));
  EXPECT_EQ(matches("(?i)[^a]", "aA"), Strings{});
  // Scoping: the flag applies to the group only, and (?-i) switches it off.
  EXPECT_EQ(matches("(?i:a)b", "ABAb"), (Strings{"Ab"}));
  EXPECT_EQ(matches("(?i)a(?-i:b)", "ABAb"), (Strings{"Ab"}));
  // An inline (?i) reaches the end of the enclosing group, later alternatives included.
  EXPECT_EQ(matches("x(?i)y|z", "xY Z"), (Strings{"xY", "Z"}));
}

TEST(Regex, QuantifiersGreedyLazyPossessive) {
  EXPECT_EQ(matches("a{2,3}", "aaaaaaa"), (Strings{"aaa", "aaa"}));
  EXPECT_EQ(matches("a{2}", "aaaaa"), (Strings{"aa", "aa"}));
  EXPECT_EQ(matches("a{2,}", "a aa aaaa"), (Strings{"aa", "aaaa"}));
  EXPECT_EQ(matches("a{,2}b", "aaab"), (Strings{"aab"}));
  EXPECT_EQ(matches("x{", "x{"), (Strings{"x{"}));  // not an interval: a literal brace
  EXPECT_EQ(matches("a+?", "aaa"), (Strings{"a", "a", "a"}));
  EXPECT_EQ(matches("<.+?>", "<a><b>"), (Strings{"<a>", "<b>"}));
  EXPECT_EQ(matches("<.+>", "<a><b>"), (Strings{"<a><b>"}));
  EXPECT_EQ(matches("a*?b", "aaab"), (Strings{"aaab"}));
  EXPECT_EQ(matches("(?:ab){2,3}?", "abababab"), (Strings{"abab", "abab"}));
  EXPECT_EQ(matches("a*+a", "aaaa"), Strings{});
  EXPECT_EQ(matches("a++b", "aaab"), (Strings{"aaab"}));
  EXPECT_EQ(matches("(?>a*)a", "aaa"), Strings{});
  EXPECT_EQ(matches("(?:ab|a)*c", "ababac"), (Strings{"ababac"}));
  // {n}+ is an interval followed by '+' in Oniguruma syntax, not a possessive, and {n}? is an
  // optional {n}, while {n,m}? is lazy.
  EXPECT_EQ(matches("a{2}+", "aaaaa"), (Strings{"aaaa"}));
  EXPECT_EQ(matches("a{2}?", "aaa"), (Strings{"aa", ""}));
  EXPECT_EQ(matches("a{2,3}?", "aaa"), (Strings{"aa"}));
}

TEST(Regex, AlternationIsLeftmostFirst) {
  // A POSIX (leftmost-longest) engine would return "ab".
  EXPECT_EQ(matches("a|ab", "ab"), (Strings{"a"}));
  EXPECT_EQ(matches("(a|ab)(c|bcd)", "abcd"), (Strings{"abcd"}));
}

TEST(Regex, LookaheadAndAnchors) {
  EXPECT_EQ(matches("foo(?=bar)", "foobar foobaz"), (Strings{"foo"}));
  const auto m = Regex("foo(?!bar)").find_all("foobar foobaz");
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].begin, 7u);
  EXPECT_EQ(matches("^a", "a\na"), (Strings{"a", "a"}));  // Oniguruma anchors are per line
  EXPECT_EQ(Regex("\\Aa").find_all("a\na").size(), 1u);
  EXPECT_EQ(Regex("a$").find_all("a\na").size(), 2u);
  EXPECT_EQ(Regex("a\\z").find_all("a\na").size(), 1u);
  EXPECT_EQ(Regex("a\\Z").find_all("xa\n").size(), 1u);
  EXPECT_EQ(matches("\\bab\\b", "ab cab ab"), (Strings{"ab", "ab"}));
  EXPECT_EQ(matches("\\Bab", "ab cab"), (Strings{"ab"}));
}

TEST(Regex, EmptyMatchesFollowOnigurumaFindIter) {
  // An empty match right after the previous match is skipped.
  EXPECT_EQ(matches("a*", "baaac"), (Strings{"", "aaa", ""}));
  EXPECT_EQ(matches("x*", "abc"), (Strings{"", "", "", ""}));
  const auto m = Regex("").find_all("ab");
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[2], (RegexMatch{2, 2}));
}

TEST(Regex, DotAndFlags) {
  EXPECT_EQ(matches(".", "a\nb"), (Strings{"a", "b"}));
  EXPECT_EQ(matches("(?m).+", "a\nb"), (Strings{"a\nb"}));  // Oniguruma (?m) = dot-all
  EXPECT_EQ(matches(".", "\u00E9\U0001F600"), (Strings{"\u00E9", "\U0001F600"}));
}

TEST(Regex, CharacterClasses) {
  EXPECT_EQ(matches("[^a-c]+", "abcdef"), (Strings{"def"}));
  EXPECT_EQ(matches("[\\w-]+", "foo-bar baz"), (Strings{"foo-bar", "baz"}));
  EXPECT_EQ(matches("[]a]+", "x]a]x"), (Strings{"]a]"}));
  EXPECT_EQ(matches("[a\\]]+", "a]b"), (Strings{"a]"}));
  EXPECT_EQ(matches("[a[bc]]+", "abcd"), (Strings{"abc"}));
  EXPECT_EQ(matches("[^[^a]]+", "aab"), (Strings{"aa"}));
  EXPECT_EQ(matches("\\p{Lu}+", "ABcDE"), (Strings{"AB", "DE"}));
  EXPECT_EQ(matches("\\P{L}+", "ab12cd"), (Strings{"12"}));
  EXPECT_EQ(matches("\\p{^L}+", "ab12cd"), (Strings{"12"}));
  EXPECT_EQ(matches("\\pN+", "ab12cd"), (Strings{"12"}));
  EXPECT_EQ(matches("\\p{Uppercase_Letter}", "aB"), (Strings{"B"}));
  EXPECT_EQ(matches("[\\p{N}\\s]+", "a1 2b"), (Strings{"1 2"}));
  EXPECT_EQ(matches("\\d+", "x\u0663\u0664y12"), (Strings{"\u0663\u0664", "12"}));
  EXPECT_EQ(matches("\\h+", "0x1fZ"), (Strings{"0", "1f"}));
  // Oniguruma's \w is Letter | Mark | Number | Connector_Punctuation: "½" (No) is a word char.
  EXPECT_EQ(matches("\\w+", "a\u00BDb-c_d"), (Strings{"a\u00BDb", "c_d"}));
  EXPECT_EQ(matches("\\N+", "ab\ncd"), (Strings{"ab", "cd"}));
  EXPECT_EQ(matches("\\O+", "ab\ncd"), (Strings{"ab\ncd"}));
  EXPECT_EQ(matches("[\\s\\S]", "\n"), (Strings{"\n"}));
  EXPECT_EQ(matches("\\S+", "a\u3000b"), (Strings{"a", "b"}));  // ideographic space is \s
  EXPECT_EQ(matches("[\u4E00-\u9FA5]+", "ab\u4E2D\u6587cd"), (Strings{"\u4E2D\u6587"}));
}

TEST(Regex, Escapes) {
  EXPECT_EQ(matches("\\x41\\u00e9\\x{1F600}", "A\u00E9\U0001F600"), (Strings{"A\u00E9\U0001F600"}));
  EXPECT_EQ(matches("\\t\\n", "a\t\nb"), (Strings{"\t\n"}));
  EXPECT_EQ(matches("a\\012b\\0", std::string("a\nb\0", 4)), (Strings{std::string("a\nb\0", 4)}));
  EXPECT_EQ(matches("\\.\\*\\(", "a.*("), (Strings{".*("}));
  EXPECT_EQ(matches("(?#a comment)x", "x"), (Strings{"x"}));
  EXPECT_EQ(matches("(?<name>a)b", "ab"), (Strings{"ab"}));
}

TEST(Regex, LiteralMatchesTextExactly) {
  const Regex dot = Regex::literal("a.b");
  EXPECT_EQ(dot.find_all_strings("axb a.b"), (Strings{"a.b"}));
  EXPECT_EQ(Regex::literal("(\\) [x]{2}").find_all_strings("(\\) [x]{2}"), (Strings{"(\\) [x]{2}"}));
  EXPECT_EQ(Regex::literal("\u2581").find_all_strings("a\u2581b\u2581"), (Strings{"\u2581", "\u2581"}));
  EXPECT_EQ(Regex::literal(" ").find_all_strings("a b"), (Strings{" "}));
}

TEST(Regex, UnsupportedSyntaxIsRefusedWithPatternAndPosition) {
  GENARM_EXPECT_ERROR(Regex("(?<=a)b"), ErrorCategory::kUnsupported, "(?<=a)b", "lookbehind",
                      "at byte 0");
  GENARM_EXPECT_ERROR(Regex("(a)\\1"), ErrorCategory::kUnsupported, "backreference", "at byte 3");
  GENARM_EXPECT_ERROR(Regex("\\p{Han}"), ErrorCategory::kUnsupported, "property 'Han'");
  GENARM_EXPECT_ERROR(Regex("[[:alpha:]]"), ErrorCategory::kUnsupported, "POSIX bracket");
  GENARM_EXPECT_ERROR(Regex("[a&&b]"), ErrorCategory::kUnsupported, "intersection");
  GENARM_EXPECT_ERROR(Regex("\\K"), ErrorCategory::kUnsupported, "escape '\\K'");
  GENARM_EXPECT_ERROR(Regex("(?x)a"), ErrorCategory::kUnsupported, "(?x)");
  // Oniguruma reads \xE9 as one byte of a UTF-8 sequence, not as U+00E9.
  GENARM_EXPECT_ERROR(Regex("\\xE9"), ErrorCategory::kUnsupported, "non-ASCII byte");
}

TEST(Regex, MalformedPatternsAreRefused) {
  GENARM_EXPECT_ERROR(Regex("(ab"), ErrorCategory::kTokenizer, "'(ab'", "unbalanced parenthesis");
  GENARM_EXPECT_ERROR(Regex("ab)"), ErrorCategory::kTokenizer, "unbalanced parenthesis", "at byte 2");
  GENARM_EXPECT_ERROR(Regex("*a"), ErrorCategory::kTokenizer, "quantifier without a target");
  GENARM_EXPECT_ERROR(Regex("a|{2}"), ErrorCategory::kTokenizer, "quantifier without a target");
  GENARM_EXPECT_ERROR(Regex("[a-"), ErrorCategory::kTokenizer, "unterminated character class");
  GENARM_EXPECT_ERROR(Regex("[z-a]"), ErrorCategory::kTokenizer, "empty range");
  GENARM_EXPECT_ERROR(Regex("a{3,2}"), ErrorCategory::kTokenizer, "n > m");
  GENARM_EXPECT_ERROR(Regex("a\\"), ErrorCategory::kTokenizer, "trailing backslash");
  GENARM_EXPECT_ERROR(Regex("(?=a)*"), ErrorCategory::kTokenizer, "cannot be repeated");
  GENARM_EXPECT_ERROR(Regex("\\xZZ"), ErrorCategory::kTokenizer, "hexadecimal");
}

TEST(Regex, LongSubjectsNeitherRecurseNorGoQuadratic) {
  const std::string letters(1'000'000, 'a');
  const auto one = Regex("\\p{L}+").find_all(letters);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].end, letters.size());

  std::string pairs;
  for (int i = 0; i < 100'000; ++i) pairs += "ab";
  EXPECT_EQ(Regex("(?:ab)+").find_all(pairs).size(), 1u);

  // 100k spaces then a word: one backtrack step of the greedy \s+ serves the lookahead.
  std::string spaces(100'000, ' ');
  spaces += 'x';
  const auto parts = Regex(kGpt2Pattern).find_all(spaces);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].end, 99'999u);
  EXPECT_EQ(parts[1].begin, 99'999u);
}

TEST(Regex, CatastrophicBacktrackingFailsLoudly) {
  GENARM_EXPECT_ERROR(Regex("(a|a)*b").find_all(std::string(40, 'a')), ErrorCategory::kTokenizer,
                      "backtracking limit");
  // Few backtracks, but each one re-runs 100000 forward steps (5e9 in all: 127 s before the
  // budget counted forward steps and covered every start position; found by regex_fuzz).
  GENARM_EXPECT_ERROR(Regex(" ?{100000}x").find_all(" y"), ErrorCategory::kTokenizer, "backtracking limit",
                      "subject of 2 bytes");
}

TEST(Regex, RejectsIllFormedSubjects) {
  GENARM_EXPECT_ERROR(Regex("a").find_all("a\xFF"), ErrorCategory::kInvalidArgument, "byte 1");
}

TEST(Regex, OneCompiledRegexServesManyThreads) {
  const Regex re(kLlama3);
  const std::string text = "Hello WORLD'S 123456 !!\n\n  spaces   end";
  const Strings expected = re.find_all_strings(text);
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      RegexScratch scratch;
      int good = 0;
      for (int i = 0; i < 200; ++i) {
        std::vector<RegexMatch> out;
        re.find_all_unchecked(text, scratch, out);
        Strings got;
        for (const auto& m : out) got.emplace_back(text.substr(m.begin, m.end - m.begin));
        good += got == expected;
      }
      ok[static_cast<size_t>(t)] = good;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok, (std::vector<int>{200, 200, 200, 200}));
}

}  // namespace
}  // namespace genarm::tokenizer
