#include "genarm/tokenizer/compare.hpp"

#include <string>
#include <vector>

#include "genarm/tokenizer/tokenizer.hpp"
#include "test_support.hpp"

namespace genarm {

namespace test {  // hand-made tokenizers of tokenizer_test.cpp (the same test executable)
nlohmann::json llama3_style_json(bool ignore_merges);
nlohmann::json metaspace_json(const std::string& prepend_scheme);
}  // namespace test

namespace {

using testing::fixtures_dir;
using testing::hf_dir;
using testing::load_json;
using Kind = tokenizer::Comparison::Kind;

std::filesystem::path padded_dir(const std::string& name) { return fixtures_dir() / "padded" / name; }
nlohmann::json arm_tokenizer_json() { return load_json(hf_dir() / "models" / "llama-tiny-arm" / "tokenizer.json"); }
Tokenizer arm_tokenizer() { return Tokenizer::from_file(hf_dir() / "models" / "llama-tiny-arm"); }

// The comparison of the fixture ARM's tokenizer with `changed` (a modified copy of its JSON).
tokenizer::Comparison compare_with_changed(const nlohmann::json& changed) {
  return arm_tokenizer().compare(Tokenizer::from_json(changed), "the base", "the ARM");
}

TEST(TokenizerCompare, IdenticalTokenizersWhateverTheFileLooksLike) {
  const Tokenizer base = Tokenizer::from_file(hf_dir() / "models" / "llama-tiny");
  const tokenizer::Comparison c = base.compare(arm_tokenizer());
  EXPECT_TRUE(c.identical());
  EXPECT_TRUE(c.compatible());
  EXPECT_EQ(c.kind, Kind::kNone);
  EXPECT_EQ(c.difference, "");
  EXPECT_EQ(c.base_size, 1024u);
  EXPECT_EQ(c.other_size, 1024u);
  // Legacy "a b" merges and another key order: the same tokenizer.
  nlohmann::json j = arm_tokenizer_json();
  nlohmann::json legacy = nlohmann::json::array();
  for (const auto& m : j["model"]["merges"]) {
    legacy.push_back(m.is_string() ? m.get<std::string>() : m[0].get<std::string>() + " " + m[1].get<std::string>());
  }
  j["model"]["merges"] = legacy;
  EXPECT_TRUE(compare_with_changed(j).identical());
}

TEST(TokenizerCompare, AnAddedPadTokenBeyondTheBaseIsAnExtraToken) {
  const Tokenizer padded = Tokenizer::from_file(padded_dir("llama-tiny-arm-padded"));
  EXPECT_EQ(padded.vocab_size(), 1025u);
  EXPECT_EQ(padded.model_vocab_size(), 1024u);
  EXPECT_EQ(padded.added_token_count(), 4u);
  const tokenizer::Comparison c = arm_tokenizer().compare(padded, "the base", "the ARM");
  EXPECT_TRUE(c.compatible());
  EXPECT_FALSE(c.identical());
  EXPECT_EQ(c.other_size, 1025u);
  ASSERT_EQ(c.extra_tokens.size(), 1u);
  EXPECT_EQ(c.extra_tokens[0].id, 1024);
  EXPECT_EQ(c.extra_tokens[0].content, "[PAD]");
  EXPECT_TRUE(c.extra_tokens[0].added);
  EXPECT_TRUE(c.extra_tokens[0].special);
  EXPECT_TRUE(c.notes.empty());
  EXPECT_EQ(tokenizer::describe_extra_tokens(c.extra_tokens), "1 extra token: 1024 '[PAD]' (special)");
  // The padded tokenizer encodes and decodes base text exactly as the base does.
  const std::string text = "Hello there, [PAD] friend</s>";
  EXPECT_EQ(arm_tokenizer().decode(arm_tokenizer().encode(text)), padded.decode(arm_tokenizer().encode(text)));
}

TEST(TokenizerCompare, ASmallerVocabularyNamesBothSizes) {
  const Tokenizer padded = Tokenizer::from_file(padded_dir("llama-tiny-arm-padded"));
  const tokenizer::Comparison c = padded.compare(arm_tokenizer(), "the base", "the ARM");
  EXPECT_FALSE(c.compatible());
  EXPECT_EQ(c.kind, Kind::kSmaller);
  EXPECT_EQ(c.difference, "its vocabulary is smaller: 1024 token ids in the ARM and 1025 in the base");
}

TEST(TokenizerCompare, ADifferentTokenNamesTheIdAndBothTokens) {
  const tokenizer::Comparison c =
      arm_tokenizer().compare(Tokenizer::from_file(padded_dir("llama-tiny-arm-differs")), "the base", "the ARM");
  EXPECT_EQ(c.kind, Kind::kToken);
  ASSERT_TRUE(c.differing_id.has_value());
  EXPECT_EQ(*c.differing_id, 340);
  EXPECT_EQ(c.difference, "at id 340, 'z' in the base and 'z\u02bc' in the ARM");
}

TEST(TokenizerCompare, PresenceAddedAndSpecialStatusAtSharedIds) {
  // A hole in the base's vocabulary that the ARM fills: id 1030.
  nlohmann::json base_json = arm_tokenizer_json();
  base_json["added_tokens"].push_back({{"id", 1031}, {"content", "<x>"}, {"special", true}, {"normalized", false}});
  nlohmann::json other = base_json;
  other["added_tokens"].push_back({{"id", 1030}, {"content", "<y>"}, {"special", true}, {"normalized", false}});
  const Tokenizer base = Tokenizer::from_json(base_json);
  tokenizer::Comparison c = base.compare(Tokenizer::from_json(other), "the base", "the ARM");
  EXPECT_EQ(c.kind, Kind::kToken);
  EXPECT_EQ(c.difference, "at id 1030, no token in the base and '<y>' in the ARM") << c.difference;

  // </s> special in the base only.
  other = arm_tokenizer_json();
  for (auto& t : other["added_tokens"]) {
    if (t["content"] == "</s>") t["special"] = false;
  }
  c = compare_with_changed(other);
  EXPECT_EQ(c.difference, "at id 2, '</s>' is a special token in the base but not in the ARM");
  EXPECT_EQ(c.differing_id, 2);

  // <unk> an added token in the base only (a model token in the ARM).
  other = arm_tokenizer_json();
  other["added_tokens"].erase(0);
  c = compare_with_changed(other);
  EXPECT_EQ(c.difference, "at id 0, '<unk>' is an added token in the base but not in the ARM");

  // An added token hiding a different model token.
  nlohmann::json shadow_base = arm_tokenizer_json();
  shadow_base["added_tokens"].push_back({{"id", 340}, {"content", "<z>"}, {"special", true}, {"normalized", false}});
  nlohmann::json shadow_other = arm_tokenizer_json();
  auto& vocab = shadow_other["model"]["vocab"];
  ASSERT_EQ(vocab["z"], 340);
  ASSERT_FALSE(vocab.contains("y2"));
  vocab.erase("z");
  vocab["y2"] = 340;
  shadow_other["added_tokens"].push_back({{"id", 340}, {"content", "<z>"}, {"special", true}, {"normalized", false}});
  c = Tokenizer::from_json(shadow_base).compare(Tokenizer::from_json(shadow_other), "the base", "the ARM");
  EXPECT_EQ(c.difference,
            "at id 340, the BPE vocabulary has 'z' in the base and 'y2' in the ARM (under the added token '<z>')");
}

TEST(TokenizerCompare, MatchingOptionsOfSharedAddedTokensAreNotes) {
  nlohmann::json other = arm_tokenizer_json();
  for (auto& t : other["added_tokens"]) {
    if (t["content"] == "</s>") {
      t["normalized"] = true;
      t["rstrip"] = true;
    }
  }
  const tokenizer::Comparison c = compare_with_changed(other);
  EXPECT_TRUE(c.compatible()) << c.difference;
  EXPECT_FALSE(c.identical());
  ASSERT_EQ(c.notes.size(), 2u);
  EXPECT_EQ(c.notes[0], "the added token '</s>' (id 2) has rstrip=false in the base and rstrip=true in the ARM");
  EXPECT_EQ(c.notes[1], "the added token '</s>' (id 2) has normalized=false in the base and normalized=true in the ARM");
}

TEST(TokenizerCompare, MergesAndOptions) {
  nlohmann::json other = arm_tokenizer_json();
  auto& merges = other["model"]["merges"];
  std::swap(merges[3], merges[4]);
  tokenizer::Comparison c = compare_with_changed(other);
  EXPECT_EQ(c.kind, Kind::kModel);
  const auto pair_text = [](const nlohmann::json& m) {
    return "'" + (m.is_string() ? m.get<std::string>() : m[0].get<std::string>() + " " + m[1].get<std::string>()) + "'";
  };
  const auto original = arm_tokenizer_json()["model"]["merges"];
  EXPECT_EQ(c.difference, "the BPE merges differ at rank 3: " + pair_text(original[3]) + " in the base and " +
                              pair_text(original[4]) + " in the ARM");

  other = arm_tokenizer_json();
  other["model"]["merges"].erase(other["model"]["merges"].size() - 1);
  c = compare_with_changed(other);
  EXPECT_EQ(c.difference, "the BPE merges differ: 682 in the base and 681 in the ARM (the first 681 agree)");

  other = arm_tokenizer_json();
  other["model"]["byte_fallback"] = false;
  c = compare_with_changed(other);
  EXPECT_EQ(c.kind, Kind::kModel);
  EXPECT_EQ(c.difference, "the BPE option byte_fallback differs: true in the base and false in the ARM");

  other = arm_tokenizer_json();
  other["model"]["unk_token"] = nullptr;
  c = compare_with_changed(other);
  EXPECT_EQ(c.difference, "the BPE option unk_token differs: '<unk>' in the base and none in the ARM");
}

TEST(TokenizerCompare, EachComponentByItsBehaviour) {
  nlohmann::json other = arm_tokenizer_json();
  other["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "\u2581"}, {"prepend_scheme", "first"}, {"split", false}};
  tokenizer::Comparison c = compare_with_changed(other);
  EXPECT_EQ(c.kind, Kind::kPreTokenizer);
  EXPECT_EQ(c.difference, "the pre-tokenizer differs: none in the base and Metaspace in the ARM");

  other = arm_tokenizer_json();
  other["normalizer"]["normalizers"][0]["prepend"] = "_";
  c = compare_with_changed(other);
  EXPECT_EQ(c.kind, Kind::kNormalizer);
  EXPECT_EQ(c.difference,
            "the normalizer differs: " + arm_tokenizer_json()["normalizer"].dump() + " in the base and " +
                other["normalizer"].dump() + " in the ARM");

  other = arm_tokenizer_json();
  other["decoder"]["decoders"].erase(3);
  c = compare_with_changed(other);
  EXPECT_EQ(c.kind, Kind::kDecoder);
  EXPECT_EQ(c.difference,
            "the decoder differs: Sequence[Replace, ByteFallback, Fuse, Strip] in the base and "
            "Sequence[Replace, ByteFallback, Fuse] in the ARM");

  other = arm_tokenizer_json();
  other["post_processor"] = nullptr;
  c = compare_with_changed(other);
  EXPECT_EQ(c.kind, Kind::kPostProcessor);
  EXPECT_EQ(c.difference, "the post-processor differs: TemplateProcessing in the base and none in the ARM");

  // Only the fields that change behaviour count: the same components written differently.
  other = arm_tokenizer_json();
  other["truncation"] = {{"max_length", 12}};
  EXPECT_TRUE(compare_with_changed(other).identical());
}

TEST(TokenizerCompare, HolesOverridesAndOtherTokenizerFamilies) {
  // Ids 270..299 have no token, 300/301 are added: equal to a reload of itself.
  const Tokenizer holes = Tokenizer::from_json(test::llama3_style_json(true));
  EXPECT_TRUE(holes.compare(Tokenizer::from_json(test::llama3_style_json(true))).identical());
  EXPECT_EQ(holes.compare(Tokenizer::from_json(test::llama3_style_json(false)), "the base", "the ARM").difference,
            "the BPE option ignore_merges differs: true in the base and false in the ARM");
  // An added token over a model token with another string, and an added token with no content.
  nlohmann::json j = test::metaspace_json("first");
  j["added_tokens"].push_back({{"id", 263}, {"content", "<e>"}, {"special", false}});
  j["added_tokens"].push_back({{"id", 280}, {"content", ""}, {"special", true}});
  const Tokenizer over = Tokenizer::from_json(j);
  EXPECT_TRUE(over.compare(Tokenizer::from_json(j)).identical());
  const auto c = Tokenizer::from_json(test::metaspace_json("first")).compare(over, "the base", "the ARM");
  EXPECT_EQ(c.difference, "at id 263, 'e' in the base and '<e>' in the ARM");
  EXPECT_EQ(Tokenizer::from_json(test::metaspace_json("first"))
                .compare(Tokenizer::from_json(test::metaspace_json("always")), "the base", "the ARM")
                .difference,
            "the pre-tokenizer differs: " + test::metaspace_json("first")["pre_tokenizer"].dump() + " in the base and " +
                test::metaspace_json("always")["pre_tokenizer"].dump() + " in the ARM");
  // Byte-level GPT-2 against the SentencePiece-style fixture: the first id already differs.
  const Tokenizer gpt2 = Tokenizer::from_file(hf_dir() / "tokenizers" / "gpt2");
  EXPECT_TRUE(gpt2.compare(Tokenizer::from_file(hf_dir() / "tokenizers" / "gpt2")).identical());
  EXPECT_EQ(arm_tokenizer().compare(gpt2, "the base", "the ARM").difference,
            "at id 0, '<unk>' in the base and '!' in the ARM");
}

TEST(TokenizerCompare, TokensFromAnId) {
  const Tokenizer padded = Tokenizer::from_file(padded_dir("llama-tiny-arm-padded"));
  const auto tail = padded.tokens_from(1022);
  ASSERT_EQ(tail.size(), 3u);
  EXPECT_EQ(tail[0].id, 1022);
  EXPECT_FALSE(tail[0].added);
  EXPECT_EQ(tail[2].content, "[PAD]");
  EXPECT_TRUE(padded.tokens_from(5000).empty());
  std::vector<tokenizer::ExtraToken> many;
  for (int i = 0; i < 7; ++i) many.push_back({100 + i, "t\n" + std::to_string(i), i != 3, i == 0});
  EXPECT_EQ(tokenizer::describe_extra_tokens(many, 4),
            "7 extra tokens: 100 't\\n0' (special), 101 't\\n1', 102 't\\n2', 103 't\\n3' (model vocabulary), ...");
}

}  // namespace
}  // namespace genarm
