#include "genarm/tokenizer/pre_tokenizer.hpp"

#include <memory>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace genarm::tokenizer {
namespace {

using Strings = std::vector<std::string>;

std::unique_ptr<PreTokenizer> parse_pre_tokenizer(const std::string& json) {
  const nlohmann::json j = nlohmann::json::parse(json);
  return make_pre_tokenizer(io::JsonView(j, "tokenizer.json", ErrorCategory::kTokenizer, "pre_tokenizer"));
}

Strings split_with(const std::string& json, const std::string& text) { return parse_pre_tokenizer(json)->split_string(text); }

// Pre-tokenizes `pieces` (already split, with their original offsets) and returns the pieces.
Strings run_pieces(const PreTokenizer& p, const std::string& text, const std::vector<std::pair<uint32_t, uint32_t>>& spans) {
  PieceList pieces;
  pieces.buffer.assign(text, 0);
  for (const auto& [b, e] : spans) pieces.spans.push_back({b, e});
  PreTokenizerScratch scratch;
  p.pre_tokenize(pieces, scratch);
  Strings out;
  for (size_t i = 0; i < pieces.size(); ++i) out.emplace_back(pieces.piece(i));
  return out;
}

constexpr const char* kByteLevelNoPrefix = R"({"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true})";

// Expected values from HF's byte_level.rs tests.
TEST(PreTokenizer, ByteLevelSplitsAndMapsBytes) {
  EXPECT_EQ(split_with(kByteLevelNoPrefix, "Hello my friend, how is your day going?"),
            (Strings{"Hello", "\u0120my", "\u0120friend", ",", "\u0120how", "\u0120is", "\u0120your",
                     "\u0120day", "\u0120going", "?"}));
  EXPECT_EQ(split_with(kByteLevelNoPrefix, "Hello there\nHello there"),
            (Strings{"Hello", "\u0120there", "\u010A", "Hello", "\u0120there"}));
  EXPECT_EQ(split_with(kByteLevelNoPrefix, "Hello there       dear"),
            (Strings{"Hello", "\u0120there", "\u0120\u0120\u0120\u0120\u0120\u0120", "\u0120dear"}));
  EXPECT_EQ(split_with(kByteLevelNoPrefix, "i\u2B62j"), (Strings{"i", "\u00E2\u0143\u00A2", "j"}));
}

TEST(PreTokenizer, ByteLevelPrefixSpaceAndNoRegex) {
  const char* with_prefix = R"({"type":"ByteLevel","add_prefix_space":true,"use_regex":true})";
  EXPECT_EQ(split_with(with_prefix, "Hello my"), (Strings{"\u0120Hello", "\u0120my"}));
  EXPECT_EQ(split_with(with_prefix, " Hello my"), (Strings{"\u0120Hello", "\u0120my"}));
  EXPECT_EQ(split_with(R"({"type":"ByteLevel","add_prefix_space":true,"use_regex":false})",
                "Hello my friend, how is your day going?"),
            (Strings{"\u0120Hello\u0120my\u0120friend,\u0120how\u0120is\u0120your\u0120day\u0120going?"}));
  // HF's serde default for use_regex is true.
  EXPECT_EQ(split_with(R"({"type":"ByteLevel","add_prefix_space":false})", "a b"), (Strings{"a", "\u0120b"}));
}

// The five behaviours on the Whitespace regex with invert=true, from HF's split.rs tests.
TEST(PreTokenizer, SplitBehaviorsMatchHf) {
  auto split = [](const char* behavior) {
    return split_with(std::string(R"({"type":"Split","pattern":{"Regex":"\\w+|[^\\w\\s]+"},"behavior":")") + behavior +
                   R"(","invert":true})",
               "How are you doing?");
  };
  EXPECT_EQ(split("Removed"), (Strings{"How", "are", "you", "doing", "?"}));
  EXPECT_EQ(split("Isolated"), (Strings{"How", " ", "are", " ", "you", " ", "doing", "?"}));
  EXPECT_EQ(split("MergedWithPrevious"), (Strings{"How ", "are ", "you ", "doing", "?"}));
  EXPECT_EQ(split("MergedWithNext"), (Strings{"How", " are", " you", " doing", "?"}));
  EXPECT_EQ(split("Contiguous"), (Strings{"How", " ", "are", " ", "you", " ", "doing?"}));
}

TEST(PreTokenizer, SplitStringPatternAndInvert) {
  const Strings by_string = split_with(R"({"type":"Split","pattern":{"String":" "},"behavior":"Removed","invert":false})", "Hey, man!");
  const Strings by_regex = split_with(R"({"type":"Split","pattern":{"Regex":"\\s+"},"behavior":"Removed","invert":false})", "Hey, man!");
  EXPECT_EQ(by_string, (Strings{"Hey,", "man!"}));
  EXPECT_EQ(by_string, by_regex);
  EXPECT_EQ(split_with(R"({"type":"Split","pattern":{"String":"Hello"},"behavior":"Removed","invert":true})", "Hello Hello Hello"),
            split_with(R"({"type":"Split","pattern":{"String":" "},"behavior":"Removed","invert":false})", "Hello Hello Hello"));
  // A String pattern is literal, even with regex syntax in it.
  EXPECT_EQ(split_with(R"({"type":"Split","pattern":{"String":"."},"behavior":"Isolated","invert":false})", "a.b"),
            (Strings{"a", ".", "b"}));
}

TEST(PreTokenizer, Llama3SplitThenByteLevelWithoutRegex) {
  const std::string json = std::string(R"({"type":"Sequence","pretokenizers":[
      {"type":"Split","pattern":{"Regex":"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
       "behavior":"Isolated","invert":false},
      {"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":false}]})");
  EXPECT_EQ(split_with(json, "Hello WORLD'S 12345\n\nok"),
            (Strings{"Hello", "\u0120WORLD", "'S", "\u0120", "123", "45", "\u010A\u010A", "ok"}));
}

TEST(PreTokenizer, MetaspaceReplacesSpacesAndPrepends) {
  const char* always = R"({"type":"Metaspace","replacement":"\u2581","prepend_scheme":"always","split":true})";
  EXPECT_EQ(split_with(always, "Hey friend!"), (Strings{"\u2581Hey", "\u2581friend!"}));
  EXPECT_EQ(split_with(always, "Hey   friend!"), (Strings{"\u2581Hey", "\u2581", "\u2581", "\u2581friend!"}));
  EXPECT_EQ(split_with(always, " Hey"), (Strings{"\u2581Hey"}));
  EXPECT_EQ(split_with(R"({"type":"Metaspace","replacement":"\u2581","prepend_scheme":"never","split":true})", "Hey friend!"),
            (Strings{"Hey", "\u2581friend!"}));
  EXPECT_EQ(split_with(R"({"type":"Metaspace","replacement":"\u2581","prepend_scheme":"always","split":false})", "Hey friend"),
            (Strings{"\u2581Hey\u2581friend"}));
  // The legacy spelling: add_prefix_space true means "always".
  EXPECT_EQ(split_with(R"({"type":"Metaspace","replacement":"\u2581","add_prefix_space":true})", "a b"),
            (Strings{"\u2581a", "\u2581b"}));
  EXPECT_EQ(split_with(R"({"type":"Metaspace","replacement":"_","add_prefix_space":false})", "a b"),
            (Strings{"a", "_b"}));
}

// HF's metaspace.rs test "non_legacy_meta_space": "first" prepends only to the piece that
// starts at the beginning of the input.
TEST(PreTokenizer, MetaspaceFirstPrependsOnlyAtTheStartOfTheInput) {
  const auto first = parse_pre_tokenizer(R"({"type":"Metaspace","replacement":"\u2581","prepend_scheme":"first","split":false})");
  EXPECT_EQ(run_pieces(*first, "Hey my friend <s>how\u2581are you", {{0, 14}, {14, 17}, {17, 30}}),
            (Strings{"\u2581Hey\u2581my\u2581friend\u2581", "<s>", "how\u2581are\u2581you"}));
  EXPECT_EQ(run_pieces(*first, " Hey <s>how", {{0, 5}, {5, 8}, {8, 11}}),
            (Strings{"\u2581Hey\u2581", "<s>", "how"}));
  EXPECT_EQ(run_pieces(*first, " Hey <s>how <s>are <s> you",
                       {{0, 5}, {5, 8}, {8, 12}, {12, 15}, {15, 19}, {19, 22}, {22, 26}}),
            (Strings{"\u2581Hey\u2581", "<s>", "how\u2581", "<s>", "are\u2581", "<s>", "\u2581you"}));
  const auto always = parse_pre_tokenizer(R"({"type":"Metaspace","replacement":"\u2581","prepend_scheme":"always","split":true})");
  EXPECT_EQ(run_pieces(*always, "ab<s>cd", {{0, 2}, {2, 5}, {5, 7}}),
            (Strings{"\u2581ab", "\u2581<s>", "\u2581cd"}));
}

TEST(PreTokenizer, WhitespaceFamilies) {
  EXPECT_EQ(split_with(R"({"type":"Whitespace"})", "Hey man!"), (Strings{"Hey", "man", "!"}));
  EXPECT_EQ(split_with(R"({"type":"Whitespace"})", "How are you doing?"), (Strings{"How", "are", "you", "doing", "?"}));
  EXPECT_EQ(split_with(R"({"type":"Whitespace"})", "\n"), Strings{});
  EXPECT_EQ(split_with(R"({"type":"Whitespace"})", "caf\u00E9--n\u00EFve!?"), (Strings{"caf\u00E9", "--", "n\u00EFve", "!?"}));
  EXPECT_EQ(split_with(R"({"type":"WhitespaceSplit"})", "Hey, man, Good?"), (Strings{"Hey,", "man,", "Good?"}));
  EXPECT_EQ(split_with(R"({"type":"WhitespaceSplit"})", "a\u3000b"), (Strings{"a", "b"}));
}

TEST(PreTokenizer, PunctuationDigitsBertAndDelimiter) {
  EXPECT_EQ(split_with(R"({"type":"Punctuation","behavior":"Isolated"})", "Hey friend!     How are you?!?"),
            (Strings{"Hey friend", "!", "     How are you", "?", "!", "?"}));
  EXPECT_EQ(split_with(R"({"type":"Digits","individual_digits":false})", "Hey 123 friend!"),
            (Strings{"Hey ", "123", " friend!"}));
  EXPECT_EQ(split_with(R"({"type":"Digits","individual_digits":true})", "Hey 123 friend!"),
            (Strings{"Hey ", "1", "2", "3", " friend!"}));
  EXPECT_EQ(split_with(R"({"type":"BertPreTokenizer"})", "Hey friend!     How are you?!?"),
            (Strings{"Hey", "friend", "!", "How", "are", "you", "?", "!", "?"}));
  EXPECT_EQ(split_with(R"({"type":"CharDelimiterSplit","delimiter":"-"})", "the-final--countdown"),
            (Strings{"the", "final", "countdown"}));
  EXPECT_EQ(split_with(R"({"type":"Sequence","pretokenizers":[{"type":"WhitespaceSplit"},{"type":"Digits","individual_digits":true}]})",
                "Hey 123 friend!"),
            (Strings{"Hey", "1", "2", "3", "friend!"}));
}

TEST(PreTokenizer, PiecesKeepTheirOriginalOffsets) {
  const auto p = parse_pre_tokenizer(R"({"type":"Metaspace","replacement":"\u2581","prepend_scheme":"always","split":true})");
  PieceList pieces;
  pieces.buffer.assign("ab cd", 100);
  pieces.close_piece(0);
  PreTokenizerScratch scratch;
  p->pre_tokenize(pieces, scratch);
  ASSERT_EQ(pieces.size(), 2u);
  EXPECT_EQ(pieces.piece_origin(0), 100u);  // the prepended mark belongs to "a"
  EXPECT_EQ(pieces.piece_origin(1), 102u);  // the replaced space
}

TEST(PreTokenizer, BadConfigurationsAreRefused) {
  GENARM_EXPECT_ERROR(parse_pre_tokenizer(R"({"type":"UnicodeScripts"})"), ErrorCategory::kUnsupported,
                      "pre_tokenizer: unsupported pre-tokenizer type 'UnicodeScripts'");
  GENARM_EXPECT_ERROR(parse_pre_tokenizer(R"({"type":"Split","pattern":{"String":"x"},"behavior":"Sideways","invert":false})"),
                      ErrorCategory::kTokenizer, "pre_tokenizer.behavior: unknown split behavior 'Sideways'");
  GENARM_EXPECT_ERROR(parse_pre_tokenizer(R"({"type":"Split","pattern":{"Regex":"(?<=x)y"},"behavior":"Isolated","invert":false})"),
                      ErrorCategory::kUnsupported, "pre_tokenizer.pattern", "lookbehind");
  GENARM_EXPECT_ERROR(parse_pre_tokenizer(R"({"type":"Metaspace","replacement":"ab"})"), ErrorCategory::kTokenizer,
                      "pre_tokenizer.replacement: expected a single character");
  GENARM_EXPECT_ERROR(parse_pre_tokenizer(R"({"type":"Metaspace","replacement":"_","prepend_scheme":"sometimes"})"),
                      ErrorCategory::kTokenizer, "pre_tokenizer.prepend_scheme", "'sometimes'");
  GENARM_EXPECT_ERROR(parse_pre_tokenizer(R"({"type":"Sequence","pretokenizers":[{"type":"Whitespace"},{"type":"FixedLength"}]})"),
                      ErrorCategory::kUnsupported, "pre_tokenizer.pretokenizers[1]");
}

}  // namespace
}  // namespace genarm::tokenizer
