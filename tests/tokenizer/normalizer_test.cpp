#include "genarm/tokenizer/normalizer.hpp"

#include <memory>
#include <string>

#include "test_support.hpp"

namespace genarm::tokenizer {
namespace {

std::unique_ptr<Normalizer> parse_normalizer(const std::string& json) {
  const nlohmann::json j = nlohmann::json::parse(json);
  return make_normalizer(io::JsonView(j, "tokenizer.json", ErrorCategory::kTokenizer, "normalizer"));
}

std::string run(const std::string& json, const std::string& text) {
  return parse_normalizer(json)->normalize_string(text);
}

TEST(Normalizer, UnicodeForms) {
  EXPECT_EQ(run(R"({"type":"NFC"})", "e\u0301t\u00E9"), "\u00E9t\u00E9");
  EXPECT_EQ(run(R"({"type":"NFD"})", "\u00E9"), "e\u0301");
  EXPECT_EQ(run(R"({"type":"NFKC"})", "\uFB01 \u2460 x\u00B2"), "fi 1 x2");
  EXPECT_EQ(run(R"({"type":"NFKD"})", "\uFB01\u00E9"), "fie\u0301");
  EXPECT_EQ(run(R"({"type":"NFC"})", "plain"), "plain");
}

TEST(Normalizer, LowercaseStripAndAccents) {
  EXPECT_EQ(run(R"({"type":"Lowercase"})", "HeLLo \u00C0\u00C9 \u0130 \u03A3"), "hello \u00E0\u00E9 i\u0307 \u03C3");
  EXPECT_EQ(run(R"({"type":"Lowercase"})", "ASCII Only"), "ascii only");
  EXPECT_EQ(run(R"({"type":"Strip","strip_left":true,"strip_right":true})", " \t hi there\u3000\n"), "hi there");
  EXPECT_EQ(run(R"({"type":"Strip","strip_left":false,"strip_right":true})", "  hi  "), "  hi");
  EXPECT_EQ(run(R"({"type":"Strip","strip_left":true,"strip_right":false})", "  hi  "), "hi  ");
  EXPECT_EQ(run(R"({"type":"Strip"})", "   "), "");
  EXPECT_EQ(run(R"({"type":"Sequence","normalizers":[{"type":"NFD"},{"type":"StripAccents"}]})",
                "caf\u00E9 na\u00EFve"),
            "cafe naive");
}

TEST(Normalizer, PrependAppendReplace) {
  EXPECT_EQ(run(R"({"type":"Prepend","prepend":"\u2581"})", "a b"), "\u2581a b");
  EXPECT_EQ(run(R"({"type":"Prepend","prepend":"\u2581"})", ""), "");
  EXPECT_EQ(run(R"({"type":"Append","append":"</w>"})", "ab"), "ab</w>");
  EXPECT_EQ(run(R"({"type":"Replace","pattern":{"String":" "},"content":"\u2581"})", "a b  c"),
            "a\u2581b\u2581\u2581c");
  EXPECT_EQ(run(R"({"type":"Replace","pattern":{"Regex":" {2,}"},"content":" "})", "a   b  c d"), "a b c d");
  EXPECT_EQ(run(R"({"type":"Replace","pattern":{"String":"''"},"content":"\""})", "a ''test''"), "a \"test\"");
  // The Llama 2 normalizer.
  EXPECT_EQ(run(R"({"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"\u2581"},
                   {"type":"Replace","pattern":{"String":" "},"content":"\u2581"}]})",
                " Hello world"),
            "\u2581\u2581Hello\u2581world");
  EXPECT_EQ(run(R"({"type":"ByteLevel"})", "a \u00E9"), "a\u0120\u00C3\u00A9");
}

TEST(Normalizer, OutputKeepsTheOriginalOffsetOfEachCharacter) {
  const auto llama = parse_normalizer(R"({"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"\u2581"},
                            {"type":"Replace","pattern":{"String":" "},"content":"\u2581"}]})");
  NormalizedString s;
  s.assign("a b", 10);
  NormalizerScratch scratch;
  llama->normalize(s, scratch);
  EXPECT_EQ(s.text, "\u2581a\u2581b");
  // The prepended mark belongs to "a" (offset 10), the replaced space keeps offset 11.
  EXPECT_EQ(s.origin, (std::vector<uint32_t>{10, 10, 10, 10, 11, 11, 11, 12}));

  const auto nfc = parse_normalizer(R"({"type":"NFC"})");
  s.assign("e\u0301x", 0);
  nfc->normalize(s, scratch);
  EXPECT_EQ(s.text, "\u00E9x");
  EXPECT_EQ(s.origin, (std::vector<uint32_t>{0, 0, 3}));

  const auto strip = parse_normalizer(R"({"type":"Strip"})");
  s.assign("  ab ", 0);
  strip->normalize(s, scratch);
  EXPECT_EQ(s.origin, (std::vector<uint32_t>{2, 3}));
}

TEST(Normalizer, UnsupportedTypesAndBadParametersAreRefused) {
  GENARM_EXPECT_ERROR(parse_normalizer(R"({"type":"Precompiled","precompiled_charsmap":"AAAA"})"),
                      ErrorCategory::kUnsupported, "normalizer: unsupported normalizer type 'Precompiled'");
  GENARM_EXPECT_ERROR(parse_normalizer(R"({"type":"Sequence","normalizers":[{"type":"NFC"},{"type":"BertNormalizer"}]})"),
                      ErrorCategory::kUnsupported, "normalizer.normalizers[1]", "'BertNormalizer'");
  GENARM_EXPECT_ERROR(parse_normalizer(R"({"type":"Prepend"})"), ErrorCategory::kTokenizer,
                      "normalizer.prepend: missing required key");
  GENARM_EXPECT_ERROR(parse_normalizer(R"({"type":"Replace","pattern":{"Regex":"(a"},"content":"b"})"),
                      ErrorCategory::kTokenizer, "normalizer.pattern", "unbalanced parenthesis");
  GENARM_EXPECT_ERROR(parse_normalizer(R"({"type":"Replace","pattern":{"Glob":"*"},"content":"b"})"),
                      ErrorCategory::kTokenizer, "normalizer.pattern", "{\"String\": ...}");
  GENARM_EXPECT_ERROR(parse_normalizer(R"J({"type":"Replace","pattern":{"Regex":"(l)(e)"},"content":"$1 $2"})J"),
                      ErrorCategory::kUnsupported, "'$' group references");
  GENARM_EXPECT_ERROR(parse_normalizer(R"({"type":"Strip","strip_left":"yes"})"), ErrorCategory::kTokenizer,
                      "normalizer.strip_left: expected a boolean, got a string");
  GENARM_EXPECT_ERROR(parse_normalizer(R"({"kind":"NFC"})"), ErrorCategory::kTokenizer, "normalizer.type: missing");
}

}  // namespace
}  // namespace genarm::tokenizer
