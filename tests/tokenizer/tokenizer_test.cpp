#include "genarm/tokenizer/tokenizer.hpp"

#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace genarm {

namespace test {

// Hand-made tokenizers, also used by stream_decoder_test.cpp (the same test executable).

// Llama 3 style: Split with the Llama 3 regex + ByteLevel without regex, ignore_merges, BOS
// template, ByteLevel decoder. Ids 0..255 are the byte-level characters of bytes 0..255; 256..269
// are merged or whole-word tokens; 300/301 are special; 270..299 are unused.
nlohmann::json llama3_style_json(bool ignore_merges) {
  using nlohmann::json;
  const auto& tables = tokenizer::detail::byte_level_tables();
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[tables.byte_to_utf8[static_cast<size_t>(b)]] = b;
  const std::vector<std::string> extra{"\u0120t", "he", "\u0120the", "ll", "ell", "Hell", "Hello", "'s",
                                       "12", "123", "\u0120w", "or", "\u0120world", "\u010A\u010A"};
  for (size_t i = 0; i < extra.size(); ++i) vocab[extra[i]] = 256 + static_cast<int>(i);
  const json merges = json::array({{"\u0120", "t"}, {"h", "e"}, {"\u0120t", "he"}, {"l", "l"}, {"e", "ll"},
                                   {"H", "ell"}, {"Hell", "o"}, {"'", "s"}, {"1", "2"}, {"12", "3"},
                                   {"\u0120", "w"}, {"o", "r"}});
  json j = json::parse(R"({
    "version": "1.0", "truncation": null, "padding": null, "normalizer": null,
    "added_tokens": [
      {"id": 300, "content": "<|begin_of_text|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
      {"id": 301, "content": "<|end_of_text|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
       "behavior": "Isolated", "invert": false},
      {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]},
    "post_processor": {"type": "Sequence", "processors": [
      {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
      {"type": "TemplateProcessing",
       "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
       "pair": [],
       "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [300], "tokens": ["<|begin_of_text|>"]}}}]},
    "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true}
  })");
  j["model"] = {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", nullptr},
                {"end_of_word_suffix", nullptr}, {"fuse_unk", false}, {"byte_fallback", false},
                {"ignore_merges", ignore_merges}, {"vocab", vocab}, {"merges", merges}};
  return j;
}

// Mistral style: no normalizer, Metaspace pre-tokenizer (split false), byte fallback, BOS
// template, the Llama 2 decoder chain. Ids: <unk> <s> </s>, <0x00>..<0xFF> at 3..258, then
// "▁" "h" "i" "t" "e" "r" "▁h" "▁hi" "▁t" "he" "▁the" "re" "▁there" at 259..271.
nlohmann::json metaspace_json(const std::string& prepend_scheme) {
  using nlohmann::json;
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    vocab[name] = 3 + b;
  }
  const std::vector<std::string> extra{"\u2581", "h", "i", "t", "e", "r", "\u2581h", "\u2581hi", "\u2581t",
                                       "he", "\u2581the", "re", "\u2581there"};
  for (size_t i = 0; i < extra.size(); ++i) vocab[extra[i]] = 259 + static_cast<int>(i);
  const json merges = json::array({{"\u2581", "h"}, {"\u2581h", "i"}, {"\u2581", "t"}, {"h", "e"},
                                   {"\u2581t", "he"}, {"r", "e"}, {"\u2581the", "re"}});
  json j = json::parse(R"({
    "version": "1.0", "normalizer": null,
    "added_tokens": [
      {"id": 0, "content": "<unk>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
      {"id": 1, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
      {"id": 2, "content": "</s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
    "post_processor": {"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
      "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
    "decoder": {"type": "Sequence", "decoders": [
      {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, {"type": "ByteFallback"},
      {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
  })");
  j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "\u2581"}, {"prepend_scheme", prepend_scheme},
                        {"split", false}};
  j["model"] = {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", "<unk>"}, {"fuse_unk", true},
                {"byte_fallback", true}, {"ignore_merges", false}, {"vocab", vocab}, {"merges", merges}};
  return j;
}

}  // namespace test

namespace {

using Ids = std::vector<int32_t>;
using Strings = std::vector<std::string>;
using namespace genarm::testing;

Ids concat(std::initializer_list<Ids> parts) {
  Ids out;
  for (const Ids& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// ------------------------------------------------------------------ Hugging Face fixtures

class FixtureCases : public ::testing::TestWithParam<std::string> {};

TEST_P(FixtureCases, MatchHuggingFaceExactly) {
  const auto dir = hf_dir() / "tokenizers" / GetParam();
  const Tokenizer tok = Tokenizer::from_file(dir / "tokenizer.json");
  const nlohmann::json cases = load_json(dir / "cases.json");
  ASSERT_FALSE(cases.empty());
  for (const auto& c : cases) {
    const std::string text = c.at("text");
    SCOPED_TRACE(text);
    EXPECT_EQ(tok.encode(text), json_to_ids<int32_t>(c.at("ids")));
    const Tokenizer::Encoding e = tok.encode_with_tokens(text, false);
    EXPECT_EQ(e.ids, json_to_ids<int32_t>(c.at("ids_no_special")));
    EXPECT_EQ(e.tokens, c.at("tokens_no_special").get<Strings>());
    // `decoded` is the text of the ids with special tokens, skipping them.
    EXPECT_EQ(tok.decode(json_to_ids<int32_t>(c.at("ids")), true), c.at("decoded").get<std::string>());
    EXPECT_EQ(tok.decode(json_to_ids<int32_t>(c.at("ids_no_special")), false), c.at("decoded").get<std::string>());
  }
}

INSTANTIATE_TEST_SUITE_P(Tokenizer, FixtureCases, ::testing::Values("gpt2", "toy-bytelevel", "toy-spm"));

TEST(Tokenizer, VocabularyLookups) {
  const Tokenizer gpt2 = Tokenizer::from_file(hf_dir() / "tokenizers" / "gpt2");
  EXPECT_EQ(gpt2.vocab_size(), 50257u);
  EXPECT_EQ(gpt2.token_to_id("<|endoftext|>"), 50256);
  EXPECT_EQ(gpt2.token_to_id("Hello"), 15496);
  EXPECT_EQ(gpt2.token_to_id("no such token"), std::nullopt);
  EXPECT_EQ(gpt2.id_to_token(50256), "<|endoftext|>");
  EXPECT_EQ(gpt2.id_to_token(995), "\u0120world");
  EXPECT_TRUE(gpt2.is_special(50256));
  EXPECT_FALSE(gpt2.is_special(15496));
  EXPECT_FALSE(gpt2.is_special(-3));
  EXPECT_EQ(gpt2.encode("<|endoftext|>Hi"), (Ids{50256, 17250}));

  // The added token lies beyond the model vocabulary of 1023 entries.
  const Tokenizer toy = Tokenizer::from_file(hf_dir() / "tokenizers" / "toy-bytelevel");
  EXPECT_EQ(toy.vocab_size(), 1024u);
  EXPECT_EQ(toy.id_to_token(1023), "<|endoftext|>");

  const Tokenizer spm = Tokenizer::from_file(hf_dir() / "tokenizers" / "toy-spm");
  EXPECT_EQ(spm.vocab_size(), 1024u);
  EXPECT_EQ(spm.encode_with_tokens("Hello").tokens.front(), "<s>");
  EXPECT_TRUE(spm.is_special(1));
}

TEST(Tokenizer, ToyModelTokenizerLoadsAndRoundTrips) {
  const Tokenizer base = Tokenizer::from_file(source_dir() / "models" / "toy-base");
  EXPECT_EQ(base.vocab_size(), 4096u);
  std::ifstream prompts(source_dir() / "data" / "prompts.jsonl");
  std::string line;
  int n = 0;
  while (std::getline(prompts, line)) {
    const std::string prompt = nlohmann::json::parse(line).at("prompt");
    const Ids ids = base.encode(prompt);
    ASSERT_EQ(ids.front(), 1) << prompt;  // BOS
    EXPECT_EQ(base.decode(ids, true), prompt);
    ++n;
  }
  EXPECT_GT(n, 100);
  for (const auto& c : load_json(hf_dir() / "tokenizers" / "toy-spm" / "cases.json")) {
    const std::string text = c.at("text");
    EXPECT_EQ(base.decode(base.encode(text), true), text) << text;
  }
}

// ------------------------------------------------------------------ a Llama 3 style tokenizer

// Split with the Llama 3 regex, ByteLevel without regex, ignore_merges, BOS template.
// Vocabulary: the 256 byte-level characters at their byte value, then hand-made merges.
TEST(Tokenizer, Llama3StyleHandBuiltVocabulary) {
  const Tokenizer t = Tokenizer::from_json(test::llama3_style_json(true));
  const int32_t bos = 300, eot = 301;
  // Pieces: "Hello" " world" "'s" " " "123" "4". "Ġworld" is in the vocabulary, so with
  // ignore_merges it is one token although no merge builds it.
  EXPECT_EQ(t.encode("Hello world's 1234<|end_of_text|>"), (Ids{bos, 262, 268, 263, 32, 265, 52, eot}));
  const Tokenizer::Encoding e = t.encode_with_tokens("Hello world's", false);
  EXPECT_EQ(e.tokens, (Strings{"Hello", "\u0120world", "'s"}));
  // Upper-case contractions are split by the (?i:...) group; digits go in threes.
  EXPECT_EQ(t.encode("IT'S", false), (Ids{'I', 'T', '\'', 'S'}));
  EXPECT_EQ(t.encode("12345678", false), (Ids{265, '4', '5', '6', '7', '8'}));
  // Newline runs are one piece ("ĊĊ" is a vocabulary token); \s+(?!\S) keeps " b" together.
  EXPECT_EQ(t.encode("a\n\nb", false), (Ids{'a', 269, 'b'}));
  EXPECT_EQ(t.encode("a  b", false), (Ids{'a', ' ', ' ', 'b'}));
  // Merges still apply inside words not in the vocabulary: "Ġthe" via Ġt + he.
  EXPECT_EQ(t.encode("the the", false), (Ids{'t', 257, 258}));
  EXPECT_EQ(t.decode(t.encode("Hello world's 1234<|end_of_text|>"), true), "Hello world's 1234");
  EXPECT_EQ(t.decode(t.encode("Hi<|end_of_text|>"), false), "<|begin_of_text|>Hi<|end_of_text|>");

  // The same files without ignore_merges: "Ġworld" is built from merges Ġ+w and o+r only.
  const Tokenizer merging = Tokenizer::from_json(test::llama3_style_json(false));
  EXPECT_EQ(merging.encode("Hello world's 1234<|end_of_text|>"),
            (Ids{bos, 262, 266, 267, 'l', 'd', 263, 32, 265, 52, eot}));
  EXPECT_EQ(merging.encode("a\n\nb", false), (Ids{'a', '\n', '\n', 'b'}));
  EXPECT_NE(merging.fingerprint(), t.fingerprint());

  // Ids 270..299 are not used: a hole in the vocabulary.
  EXPECT_EQ(t.vocab_size(), 302u);
  GENARM_EXPECT_ERROR(t.id_to_token(280), ErrorCategory::kInvalidArgument, "280 has no token");
}

// ------------------------------------------------------------------ a Metaspace tokenizer

TEST(Tokenizer, MetaspacePrependSchemeFirstAndByteFallback) {
  const Tokenizer t = Tokenizer::from_json(test::metaspace_json("first"));
  EXPECT_EQ(t.encode("hi there"), (Ids{1, 266, 271}));
  // After a special token the text no longer starts the input: no "▁" is prepended.
  EXPECT_EQ(t.encode("hi</s>there"), (Ids{1, 266, 2, 262, 268, 270}));
  EXPECT_EQ(t.encode("</s>hi"), (Ids{1, 2, 260, 261}));
  // "é" is not in the vocabulary: its bytes are.
  EXPECT_EQ(t.encode("h\u00E9", false), (Ids{265, 3 + 0xC3, 3 + 0xA9}));
  EXPECT_EQ(t.decode(t.encode("h\u00E9 there"), true), "h\u00E9 there");
  EXPECT_EQ(t.decode(t.encode("hi</s>there"), true), "hithere");
  EXPECT_EQ(t.decode(t.encode("hi</s>there"), false), "<s> hi</s>there");

  const Tokenizer always = Tokenizer::from_json(test::metaspace_json("always"));
  EXPECT_EQ(always.encode("hi</s>there"), (Ids{1, 266, 2, 271}));
  EXPECT_NE(always.fingerprint(), t.fingerprint());
}

// ------------------------------------------------------------------ added tokens

TEST(Tokenizer, AddedTokensWithStripAndSingleWord) {
  const Tokenizer base = Tokenizer::from_file(hf_dir() / "tokenizers" / "gpt2");
  nlohmann::json j = load_json(hf_dir() / "tokenizers" / "gpt2" / "tokenizer.json");
  auto add = [&](int id, const char* content, bool single_word, bool lstrip, bool rstrip, bool special) {
    j["added_tokens"].push_back({{"id", id}, {"content", content}, {"single_word", single_word},
                                 {"lstrip", lstrip}, {"rstrip", rstrip}, {"normalized", false},
                                 {"special", special}});
  };
  add(50257, "<mask>", false, true, false, true);
  add(50258, "<sep>", false, false, true, false);
  add(50259, "cat", true, false, false, false);
  const Tokenizer t = Tokenizer::from_json(j);
  EXPECT_EQ(t.vocab_size(), 50260u);

  // lstrip: the space before <mask> belongs to the token.
  const Tokenizer::Encoding e = t.encode_with_tokens("Hello <mask>!");
  EXPECT_EQ(e.ids, concat({base.encode("Hello"), {50257}, base.encode("!")}));
  EXPECT_EQ(e.tokens, (Strings{"Hello", " <mask>", "!"}));
  // rstrip: the spaces after <sep> too.
  EXPECT_EQ(t.encode("a<sep>  b"), concat({base.encode("a"), {50258}, base.encode("b")}));
  // single_word: "cat" only as a whole word.
  EXPECT_EQ(t.encode("a cat sat"), concat({base.encode("a "), {50259}, base.encode(" sat")}));
  EXPECT_EQ(t.encode("concatenate"), base.encode("concatenate"));
  EXPECT_EQ(t.encode("cat!"), concat({{50259}, base.encode("!")}));

  EXPECT_TRUE(t.is_special(50257));
  EXPECT_FALSE(t.is_special(50258));
  EXPECT_EQ(t.decode(Ids{50257, 50258}, true), "<sep>");
  EXPECT_EQ(t.decode(Ids{50257, 50258}, false), "<mask><sep>");
  EXPECT_NE(t.fingerprint(), base.fingerprint());
}

TEST(Tokenizer, NormalizedAddedTokensMatchTheNormalizedText) {
  const Tokenizer base = Tokenizer::from_file(hf_dir() / "tokenizers" / "toy-spm");
  nlohmann::json j = load_json(hf_dir() / "tokenizers" / "toy-spm" / "tokenizer.json");
  // HF normalizes the content with the tokenizer's normalizer: "hi you" -> "▁hi▁you".
  j["added_tokens"].push_back({{"id", 1024}, {"content", "hi you"}, {"single_word", false}, {"lstrip", false},
                               {"rstrip", false}, {"normalized", true}, {"special", false}});
  const Tokenizer t = Tokenizer::from_json(j);
  EXPECT_EQ(t.encode("say hi you too", false),
            concat({base.encode("say", false), {1024}, base.encode("too", false)}));
  EXPECT_EQ(t.encode_with_tokens("say hi you", false).tokens.back(), "\u2581hi\u2581you");
  // Without single_word the token also matches inside a longer word.
  EXPECT_EQ(t.encode("hi yours", false).front(), 1024);
}

// ------------------------------------------------------------------ invalid input and errors

TEST(Tokenizer, InvalidUtf8InputNamesTheByteOffset) {
  const Tokenizer t = Tokenizer::from_file(hf_dir() / "tokenizers" / "gpt2");
  GENARM_EXPECT_ERROR(t.encode("abc\xE6\x97"), ErrorCategory::kTokenizer, "not valid UTF-8",
                      "byte offset 3", "0xE6");
  GENARM_EXPECT_ERROR(t.encode("\xFF" "abc"), ErrorCategory::kTokenizer, "byte offset 0", "0xFF");
  GENARM_EXPECT_ERROR(t.encode_with_tokens("ok \xED\xA0\x80 surrogate"), ErrorCategory::kTokenizer,
                      "byte offset 3");
}

TEST(Tokenizer, DecodeRejectsIdsOutsideTheVocabulary) {
  const Tokenizer t = Tokenizer::from_file(hf_dir() / "tokenizers" / "gpt2");
  GENARM_EXPECT_ERROR(t.decode(Ids{15496, 50257}), ErrorCategory::kInvalidArgument, "token id 50257",
                      "outside the vocabulary");
  GENARM_EXPECT_ERROR(t.decode(Ids{-1}), ErrorCategory::kInvalidArgument, "token id -1");
  GENARM_EXPECT_ERROR(t.id_to_token(999999), ErrorCategory::kInvalidArgument, "999999");
  EXPECT_EQ(t.decode(Ids{}), "");
}

nlohmann::json small_json() {
  return nlohmann::json::parse(R"({"version":"1.0","added_tokens":[],"normalizer":null,"pre_tokenizer":null,
    "post_processor":null,"decoder":null,
    "model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}})");
}

TEST(Tokenizer, MalformedJsonNamesTheFileAndKeyPath) {
  EXPECT_EQ(Tokenizer::from_json(small_json()).encode("abab"), (Ids{2, 2}));

  nlohmann::json j = load_json(hf_dir() / "tokenizers" / "toy-bytelevel" / "tokenizer.json");
  j["model"]["merges"][12] = 42;
  GENARM_EXPECT_ERROR(Tokenizer::from_json(j), ErrorCategory::kTokenizer,
                      "tokenizer.json: model.merges[12]: expected a string or a pair of strings, got an integer 42");

  j = small_json();
  j.erase("model");
  GENARM_EXPECT_ERROR(Tokenizer::from_json(j, "my/tok.json"), ErrorCategory::kTokenizer,
                      "my/tok.json: model: missing required key");
  j = small_json();
  j["model"]["vocab"]["b"] = "one";
  GENARM_EXPECT_ERROR(Tokenizer::from_json(j), ErrorCategory::kTokenizer,
                      "tokenizer.json: model.vocab.b: expected an integer, got a string \"one\"");
  j = small_json();
  j["added_tokens"] = {{{"id", 3}, {"special", true}}};
  GENARM_EXPECT_ERROR(Tokenizer::from_json(j), ErrorCategory::kTokenizer,
                      "tokenizer.json: added_tokens[0].content: missing required key");
  j = small_json();
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(a"}}}, {"behavior", "Isolated"}, {"invert", false}};
  GENARM_EXPECT_ERROR(Tokenizer::from_json(j), ErrorCategory::kTokenizer, "tokenizer.json: pre_tokenizer.pattern",
                      "regex '(a'", "unbalanced parenthesis");
  j = small_json();
  j["post_processor"] = nlohmann::json::parse(
      R"({"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>","type_id":0}},{"Sequence":{"id":"A","type_id":0}}],
          "special_tokens":{"<s>":{"id":"<s>","ids":[77],"tokens":["<s>"]}}})");
  GENARM_EXPECT_ERROR(Tokenizer::from_json(j), ErrorCategory::kTokenizer,
                      "tokenizer.json: post_processor: special token id 77 is not in the vocabulary");
  j = small_json();
  j["model"]["merges"] = {"a c"};
  GENARM_EXPECT_ERROR(Tokenizer::from_json(j), ErrorCategory::kTokenizer, "tokenizer.json: model: merges[0]: token 'c'");
  j = small_json();
  j["version"] = "2.0";
  GENARM_EXPECT_ERROR(Tokenizer::from_json(j), ErrorCategory::kUnsupported, "tokenizer.json: version: unsupported tokenizer.json version '2.0'");
  GENARM_EXPECT_ERROR(Tokenizer::from_json(nlohmann::json::array()), ErrorCategory::kTokenizer,
                      "tokenizer.json: expected an object, got an array");
}

TEST(Tokenizer, UnsupportedComponentsAreNamed) {
  nlohmann::json j = small_json();
  j["model"] = {{"type", "WordPiece"}, {"vocab", {{"a", 0}}}, {"unk_token", "[UNK]"}};
  GENARM_EXPECT_ERROR(Tokenizer::from_json(j), ErrorCategory::kUnsupported,
                      "tokenizer.json: model.type: unsupported model type 'WordPiece'");
  j["model"] = {{"type", "Unigram"}, {"vocab", nlohmann::json::array()}};
  GENARM_EXPECT_ERROR(Tokenizer::from_json(j), ErrorCategory::kUnsupported, "'Unigram'");
  j["model"] = {{"type", "WordLevel"}, {"vocab", {{"a", 0}}}};
  GENARM_EXPECT_ERROR(Tokenizer::from_json(j), ErrorCategory::kUnsupported, "'WordLevel'");
  j = small_json();
  j["normalizer"] = {{"type", "Precompiled"}, {"precompiled_charsmap", "AA=="}};
  GENARM_EXPECT_ERROR(Tokenizer::from_json(j), ErrorCategory::kUnsupported,
                      "tokenizer.json: normalizer: unsupported normalizer type 'Precompiled'");
  j = small_json();
  j["model"]["dropout"] = 0.1;
  GENARM_EXPECT_ERROR(Tokenizer::from_json(j), ErrorCategory::kUnsupported, "model.dropout");
  j = small_json();
  j["decoder"] = {{"type", "CTC"}};
  GENARM_EXPECT_ERROR(Tokenizer::from_json(j), ErrorCategory::kUnsupported, "decoder: unsupported decoder type 'CTC'");
}

TEST(Tokenizer, FromFileAcceptsAFileOrAFolder) {
  const Tokenizer by_dir = Tokenizer::from_file(source_dir() / "models" / "toy-base");
  const Tokenizer by_file = Tokenizer::from_file(source_dir() / "models" / "toy-base" / "tokenizer.json");
  EXPECT_EQ(by_dir.fingerprint(), by_file.fingerprint());

  TempDir tmp("tok");
  GENARM_EXPECT_ERROR(Tokenizer::from_file(tmp.path()), ErrorCategory::kIo, "no tokenizer.json in directory");
  GENARM_EXPECT_ERROR(Tokenizer::from_file(tmp / "missing.json"), ErrorCategory::kIo, "missing.json");
  write_file(tmp / "tokenizer.json", std::string(200000, '['));  // once a stack overflow
  GENARM_EXPECT_ERROR(Tokenizer::from_file(tmp.path()), ErrorCategory::kFormat, "nested deeper than");
  write_file(tmp / "tokenizer.json", "{\"model\": [1, 2,");
  GENARM_EXPECT_ERROR(Tokenizer::from_file(tmp.path()), ErrorCategory::kFormat, "tokenizer.json: not valid JSON");
  write_file(tmp / "tokenizer.json", R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [7]}})");
  GENARM_EXPECT_ERROR(Tokenizer::from_file(tmp.path()), ErrorCategory::kTokenizer,
                      (tmp / "tokenizer.json").string() + ": model.merges[0]: expected a string or a pair of strings");
}

TEST(Tokenizer, FingerprintIgnoresFormattingButNotContent) {
  const auto path = hf_dir() / "tokenizers" / "toy-bytelevel" / "tokenizer.json";
  const Tokenizer original = Tokenizer::from_file(path);
  nlohmann::json j = load_json(path);
  // Same tokenizer written differently: "a b" merges, other key order and formatting.
  for (auto& m : j["model"]["merges"]) m = m[0].get<std::string>() + " " + m[1].get<std::string>();
  TempDir tmp("fp");
  write_file(tmp / "tokenizer.json", j.dump(4));
  EXPECT_EQ(Tokenizer::from_file(tmp.path()).fingerprint(), original.fingerprint());

  nlohmann::json changed = j;
  std::swap(changed["model"]["merges"][3], changed["model"]["merges"][4]);
  EXPECT_NE(Tokenizer::from_json(changed).fingerprint(), original.fingerprint());
  changed = j;
  changed["decoder"] = nullptr;
  EXPECT_NE(Tokenizer::from_json(changed).fingerprint(), original.fingerprint());
  changed = j;
  changed["added_tokens"][0]["special"] = false;
  EXPECT_NE(Tokenizer::from_json(changed).fingerprint(), original.fingerprint());

  // The llama fixtures ship the toy-spm tokenizer; toy-base has another vocabulary.
  const Tokenizer spm = Tokenizer::from_file(hf_dir() / "tokenizers" / "toy-spm");
  EXPECT_EQ(Tokenizer::from_file(hf_dir() / "models" / "llama-tiny").fingerprint(), spm.fingerprint());
  EXPECT_NE(Tokenizer::from_file(source_dir() / "models" / "toy-base").fingerprint(), spm.fingerprint());
}

// ------------------------------------------------------------------ size and concurrency

std::string random_line(size_t bytes, std::string_view alphabet, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s;
  while (s.size() < bytes) s += alphabet[rng() % alphabet.size()];
  return s;
}

TEST(Tokenizer, AHundredKilobyteLineWithoutSpacesRoundTrips) {
  const std::string mixed = random_line(100'000, "abcdefghijklmnopqrstuvwxyzABC0123456789.,;:!?-_()", 42);
  const std::string letters(100'000, 'a');
  std::string cjk;
  while (cjk.size() < 100'000) cjk += "\u65E5\u672C\u8A9E\u306E";
  for (const char* name : {"gpt2", "toy-bytelevel", "toy-spm"}) {
    const Tokenizer t = Tokenizer::from_file(hf_dir() / "tokenizers" / name);
    const std::string* texts[] = {&mixed, &letters, &cjk};
    for (const std::string* text : texts) {
      const Ids ids = t.encode(*text);
      EXPECT_EQ(t.decode(ids, true), *text) << name;
    }
  }
  const Tokenizer l3 = Tokenizer::from_json(test::llama3_style_json(true));
  const std::string digits = random_line(100'000, "0123456789", 7);
  EXPECT_EQ(l3.decode(l3.encode(digits), true), digits);
  EXPECT_EQ(l3.decode(l3.encode(mixed), true), mixed);
}

// Random Unicode text: ASCII, Latin-1, combining marks, CJK, emoji, all sorts of whitespace.
std::string random_unicode(std::mt19937& rng, size_t chars) {
  static const std::vector<std::pair<char32_t, char32_t>> kRanges{
      {0x20, 0x3B}, {0x3D, 0x7E}, {0x09, 0x0D}, {0xA0, 0x17F}, {0x300, 0x36F}, {0x391, 0x3C9},
      {0x400, 0x44F}, {0x2000, 0x200D}, {0x3000, 0x3003}, {0x4E00, 0x4FFF}, {0xAC00, 0xAC40},
      {0x1F600, 0x1F64F}, {0xFB00, 0xFB06}};
  std::string s;
  for (size_t i = 0; i < chars; ++i) {
    const auto& [lo, hi] = kRanges[rng() % kRanges.size()];
    utf8::append(s, lo + static_cast<char32_t>(rng() % (hi - lo + 1)));
  }
  return s;
}

TEST(Tokenizer, RandomUnicodeTextRoundTripsThroughLosslessTokenizers) {
  // ByteLevel tokenizers are lossless; the Llama 2 style one is too, for text without "▁" and
  // without special-token strings ('<' is left out of the alphabet above).
  std::vector<Tokenizer> lossless;
  for (const char* name : {"gpt2", "toy-bytelevel", "toy-spm"}) {
    lossless.push_back(Tokenizer::from_file(hf_dir() / "tokenizers" / name));
  }
  lossless.push_back(Tokenizer::from_file(source_dir() / "models" / "toy-base"));
  lossless.push_back(Tokenizer::from_json(test::llama3_style_json(true)));
  const Tokenizer metaspace = Tokenizer::from_json(test::metaspace_json("first"));
  std::mt19937 rng(99);
  for (int trial = 0; trial < 300; ++trial) {
    const std::string text = random_unicode(rng, rng() % 60);
    for (const Tokenizer& t : lossless) {
      const Tokenizer::Encoding e = t.encode_with_tokens(text);
      ASSERT_EQ(e.ids.size(), e.tokens.size());
      ASSERT_EQ(t.decode(e.ids, true), text) << "trial " << trial;
    }
    // Metaspace drops a leading space, like HF; it must still encode and decode cleanly.
    const std::string decoded = metaspace.decode(metaspace.encode(text), true);
    EXPECT_TRUE(utf8::is_valid(decoded));
  }
}

TEST(Tokenizer, ConcurrentEncodingGivesIdenticalResults) {
  const Tokenizer t = Tokenizer::from_file(hf_dir() / "tokenizers" / "gpt2");
  const nlohmann::json cases = load_json(hf_dir() / "tokenizers" / "gpt2" / "cases.json");
  std::vector<std::thread> threads;
  std::vector<int> good(4, 0);
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      for (int round = 0; round < 20; ++round) {
        for (const auto& c : cases) {
          good[static_cast<size_t>(k)] += t.encode(c.at("text").get<std::string>()) == json_to_ids<int32_t>(c.at("ids"));
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  const int expected = 20 * static_cast<int>(cases.size());
  EXPECT_EQ(good, (std::vector<int>{expected, expected, expected, expected}));
  // Copies share the loaded state.
  const Tokenizer copy = t;
  EXPECT_EQ(copy.fingerprint(), t.fingerprint());
  EXPECT_EQ(copy.encode("Hello world"), (Ids{15496, 995}));
}

}  // namespace
}  // namespace genarm
