#include "genarm/tokenizer/added_vocabulary.hpp"

#include <string>
#include <utility>
#include <vector>

#include "genarm/tokenizer/normalizer.hpp"
#include "test_support.hpp"

namespace genarm::tokenizer {
namespace {

// (text, id) pairs; id -1 for plain text.
using Splits = std::vector<std::pair<std::string, int32_t>>;

AddedToken token(int32_t id, std::string content, bool special) {
  AddedToken t;
  t.id = id;
  t.content = std::move(content);
  t.special = special;
  t.normalized = !special;
  return t;
}

std::string lowercase(std::string_view s) { return LowercaseNormalizer().normalize_string(s); }
std::string identity(std::string_view s) { return std::string(s); }

// Both passes of HF's extract_and_normalize: raw tokens on the input, then normalized tokens on
// the normalized remaining parts.
Splits extract(const AddedVocabulary& vocab, const std::string& text,
               std::string (*normalize)(std::string_view)) {
  Splits out;
  std::vector<AddedSplit> raw;
  vocab.split(text, false, raw);
  for (const AddedSplit& r : raw) {
    if (r.begin == r.end) continue;
    const std::string part = text.substr(r.begin, r.end - r.begin);
    if (r.id >= 0) {
      out.emplace_back(part, r.id);
      continue;
    }
    const std::string normalized = normalize(part);
    std::vector<AddedSplit> subs;
    vocab.split(normalized, true, subs);
    for (const AddedSplit& s : subs) {
      if (s.begin < s.end) out.emplace_back(normalized.substr(s.begin, s.end - s.begin), s.id);
    }
  }
  return out;
}

// HF added_vocabulary.rs: can_extract_added_tokens.
TEST(AddedVocabulary, ExtractsSpecialAndNormalTokens) {
  const AddedVocabulary vocab({token(0, "my", false), token(1, "name", false), token(2, "[CLS]", true),
                               token(3, "[SEP]", true)},
                              identity);
  EXPECT_EQ(extract(vocab, "[CLS] My name is Anthony [SEP]", identity),
            (Splits{{"[CLS]", 2}, {" My ", -1}, {"name", 1}, {" is Anthony ", -1}, {"[SEP]", 3}}));
}

// HF added_vocabulary.rs: options_use_cases.
TEST(AddedVocabulary, LstripRstripSingleWordAndNormalizedMatching) {
  AddedToken my = token(0, "my", false);
  my.lstrip = my.rstrip = true;
  AddedToken ony = token(2, "ony", false);
  ony.single_word = true;
  const AddedVocabulary vocab({my, token(1, "name", false), ony, token(3, "[CLS]", true), token(4, "[SEP]", true)},
                              lowercase);
  EXPECT_EQ(extract(vocab, "[CLS] My name is Anthony [SEP]", lowercase),
            (Splits{{"[CLS]", 3}, {" my ", 0}, {"name", 1}, {" is anthony ", -1}, {"[SEP]", 4}}));
}

// HF added_vocabulary.rs: test_single_word_is_correct and test_single_word_is_unicode_correct.
TEST(AddedVocabulary, SingleWordRejectsMatchesTouchingWordCharacters) {
  AddedToken mask = token(0, "<mask>", false);
  mask.single_word = true;
  const AddedVocabulary vocab({mask}, lowercase);
  EXPECT_EQ(extract(vocab, "<mask> My name <mask> A<mask> <mask>ony <mask>", lowercase),
            (Splits{{"<mask>", 0}, {" my name ", -1}, {"<mask>", 0}, {" a<mask> <mask>ony ", -1}, {"<mask>", 0}}));
  // A combining mark is a word character; punctuation and dashes are not.
  EXPECT_EQ(extract(vocab, "<mask>, <mask>- \u25CC\u0330<mask>", lowercase),
            (Splits{{"<mask>", 0}, {", ", -1}, {"<mask>", 0}, {"- \u25CC\u0330<mask>", -1}}));
}

// HF added_vocabulary.rs: test_lstrip_unicode_space.
TEST(AddedVocabulary, StripsUnicodeWhitespaceWithoutOverlapping) {
  AddedToken mask = token(0, "<mask>", false);
  mask.lstrip = mask.rstrip = mask.single_word = true;
  const AddedVocabulary vocab({mask}, lowercase);
  EXPECT_EQ(extract(vocab, "Hi <mask> there\t<mask>\t<mask>\u2000", lowercase),
            (Splits{{"hi", -1}, {" <mask> ", 0}, {"there", -1}, {"\t<mask>\t", 0}, {"<mask>\u2000", 0}}));
}

TEST(AddedVocabulary, LongestMatchWinsAtTheLeftmostPosition) {
  const AddedVocabulary vocab({token(5, "<a>", true), token(6, "<a><b>", true), token(7, "b>", true)}, identity);
  EXPECT_EQ(extract(vocab, "x<a><b>y<a>", identity),
            (Splits{{"x", -1}, {"<a><b>", 6}, {"y", -1}, {"<a>", 5}}));
  // Leftmost first: "<a>" starts before "b>".
  EXPECT_EQ(extract(vocab, "<a>b>", identity), (Splits{{"<a>", 5}, {"b>", 7}}));
}

TEST(AddedVocabulary, LookupsAndSpecialContents) {
  const AddedVocabulary vocab({token(1, "<s>", true), token(9, "hello", false), token(4, "", true)}, identity);
  ASSERT_NE(vocab.find("<s>"), nullptr);
  EXPECT_EQ(vocab.find("<s>")->id, 1);
  EXPECT_EQ(vocab.find("hello")->id, 9);
  EXPECT_EQ(vocab.find(""), nullptr);  // empty contents are ignored, as in HF
  EXPECT_TRUE(vocab.is_special_content("<s>"));
  EXPECT_FALSE(vocab.is_special_content("hello"));
  EXPECT_FALSE(vocab.has_normalized_tokens() && vocab.find("x"));
  std::vector<AddedSplit> out;
  vocab.split("", false, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].begin, out[0].end);
}

// The "added_tokens" list of a tokenizer.json.
io::JsonView added_tokens(const nlohmann::json& list) {
  return io::JsonView(list, "tokenizer.json", ErrorCategory::kTokenizer, "added_tokens");
}

TEST(AddedVocabulary, JsonListIsReadWithPaths) {
  const nlohmann::json ok = nlohmann::json::parse(
      R"([{"id":3,"content":"<x>","single_word":false,"lstrip":true,"rstrip":false,"normalized":false,"special":true}])");
  const AddedVocabulary vocab = AddedVocabulary::from_json(added_tokens(ok), 100, identity);
  ASSERT_EQ(vocab.tokens().size(), 1u);
  EXPECT_TRUE(vocab.tokens()[0].lstrip);
  EXPECT_TRUE(vocab.tokens()[0].special);

  const nlohmann::json missing = nlohmann::json::parse(R"([{"id":3,"content":"a"},{"id":4}])");
  GENARM_EXPECT_ERROR(AddedVocabulary::from_json(added_tokens(missing), 100, identity), ErrorCategory::kTokenizer,
                      "tokenizer.json: added_tokens[1].content: missing required key");
  const nlohmann::json big = nlohmann::json::parse(R"([{"id":1000,"content":"a"}])");
  GENARM_EXPECT_ERROR(AddedVocabulary::from_json(added_tokens(big), 100, identity), ErrorCategory::kTokenizer,
                      "tokenizer.json: added_tokens[0].id: expected an integer in [0, 100], got an integer 1000");
}

}  // namespace
}  // namespace genarm::tokenizer
