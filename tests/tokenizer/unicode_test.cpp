#include "genarm/tokenizer/unicode.hpp"

#include <set>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace genarm::tokenizer {
namespace {

using G = GeneralCategory;

TEST(Unicode, GeneralCategories) {
  EXPECT_EQ(general_category(U'A'), G::kLu);
  EXPECT_EQ(general_category(U'a'), G::kLl);
  EXPECT_EQ(general_category(U'1'), G::kNd);
  EXPECT_EQ(general_category(U' '), G::kZs);
  EXPECT_EQ(general_category(U'\n'), G::kCc);
  EXPECT_EQ(general_category(U'_'), G::kPc);
  EXPECT_EQ(general_category(U'$'), G::kSc);
  EXPECT_EQ(general_category(U'\u00E9'), G::kLl);        // é
  EXPECT_EQ(general_category(U'\u4E2D'), G::kLo);        // 中
  EXPECT_EQ(general_category(U'\u0301'), G::kMn);        // combining acute
  EXPECT_EQ(general_category(U'\u216B'), G::kNl);        // Roman numeral twelve
  EXPECT_EQ(general_category(U'\u00BD'), G::kNo);        // ½
  EXPECT_EQ(general_category(U'\U0001F600'), G::kSo);    // 😀
  EXPECT_EQ(general_category(U'\U0001D400'), G::kLu);    // mathematical bold A
  EXPECT_EQ(general_category(U'\uE000'), G::kCo);
  EXPECT_EQ(general_category(U'\U0010FFFF'), G::kCn);
  EXPECT_EQ(general_category(0x110000), G::kCn);
  EXPECT_TRUE(in_categories(U'\u00E9', kLetterMask));
  EXPECT_FALSE(in_categories(U'\u0301', kLetterMask));
}

TEST(Unicode, WhiteSpaceWordNumericPunctuation) {
  for (char32_t c : {U' ', U'\t', U'\n', U'\r', U'\u000B', U'\u000C', U'\u0085', U'\u00A0',
                     U'\u1680', U'\u2000', U'\u200A', U'\u2028', U'\u202F', U'\u3000'}) {
    EXPECT_TRUE(is_white_space(c)) << static_cast<uint32_t>(c);
  }
  // Zero-width space is a format character; U+001C is a separator to Python but not White_Space.
  EXPECT_FALSE(is_white_space(U'\u200B'));
  EXPECT_FALSE(is_white_space(U'\u001C'));
  EXPECT_FALSE(is_white_space(U'x'));

  EXPECT_TRUE(is_word_char(U'_'));
  EXPECT_TRUE(is_word_char(U'\u00E9'));
  EXPECT_TRUE(is_word_char(U'\u0663'));   // Arabic-Indic three (Nd)
  EXPECT_TRUE(is_word_char(U'\u0301'));   // marks are word characters
  EXPECT_TRUE(is_word_char(U'\u24B6'));   // circled A: Other_Alphabetic
  EXPECT_TRUE(is_word_char(U'\u200D'));   // Join_Control
  EXPECT_FALSE(is_word_char(U'-'));
  EXPECT_FALSE(is_word_char(U'\u00BD'));  // No is not Rust's \w ...
  EXPECT_TRUE(is_regex_word_char(U'\u00BD'));  // ... but it is Oniguruma's
  EXPECT_FALSE(is_regex_word_char(U'\u24B6'));
  EXPECT_FALSE(is_regex_word_char(U'-'));

  EXPECT_TRUE(is_numeric(U'7'));
  EXPECT_TRUE(is_numeric(U'\u00BD'));
  EXPECT_FALSE(is_numeric(U'x'));

  EXPECT_TRUE(is_punctuation(U'$'));  // ASCII symbols count, as in HF
  EXPECT_TRUE(is_punctuation(U'~'));
  EXPECT_TRUE(is_punctuation(U'\u00BF'));  // ¿
  EXPECT_FALSE(is_punctuation(U'\u00A9'));  // © is a symbol
  EXPECT_FALSE(is_punctuation(U'a'));
}

TEST(Unicode, SimpleCaseFolding) {
  EXPECT_EQ(simple_fold(U'A'), U'a');
  EXPECT_EQ(simple_fold(U'a'), U'a');
  EXPECT_EQ(simple_fold(U'\u212A'), U'k');          // Kelvin sign
  EXPECT_EQ(simple_fold(U'\u017F'), U's');          // long s
  EXPECT_EQ(simple_fold(U'\u03A3'), simple_fold(U'\u03C2'));  // Σ and final ς
  EXPECT_EQ(simple_fold(U'\u1E9E'), U'\u00DF');     // capital sharp s -> ß (simple, not "ss")
  EXPECT_EQ(simple_fold(U'1'), U'1');

  std::set<char32_t> variants;
  for_each_case_variant(U'k', [&](char32_t v) { variants.insert(v); });
  EXPECT_EQ(variants, (std::set<char32_t>{U'K', U'\u212A'}));
  variants.clear();
  for_each_case_variant(U'\u212A', [&](char32_t v) { variants.insert(v); });
  EXPECT_EQ(variants, (std::set<char32_t>{U'k', U'K'}));
  variants.clear();
  for_each_case_variant(U'7', [&](char32_t v) { variants.insert(v); });
  EXPECT_TRUE(variants.empty());
}

TEST(Unicode, FullLowercaseMapping) {
  std::vector<char32_t> out;
  append_lowercase(U'A', out);
  append_lowercase(U'\u00C0', out);
  append_lowercase(U'\u03A3', out);
  append_lowercase(U'\u0130', out);  // İ lowercases to i + combining dot above
  EXPECT_EQ(out, (std::vector<char32_t>{U'a', U'\u00E0', U'\u03C3', U'i', U'\u0307'}));
}

TEST(Unicode, CombiningClasses) {
  EXPECT_EQ(combining_class(U'a'), 0);
  EXPECT_EQ(combining_class(U'\u0301'), 230);
  EXPECT_EQ(combining_class(U'\u0327'), 202);
  EXPECT_EQ(combining_class(U'\u0323'), 220);
  EXPECT_EQ(combining_class(U'\u0345'), 240);
}

struct NormCase {
  const char* input;
  const char* nfc;
  const char* nfd;
  const char* nfkc;
  const char* nfkd;
};

// Expected values from Python's unicodedata.normalize.
const NormCase kNormCases[] = {
    {"e\u0301", "\u00E9", "e\u0301", "\u00E9", "e\u0301"},
    {"\uFB01", "\uFB01", "\uFB01", "fi", "fi"},
    {"\u2460", "\u2460", "\u2460", "1", "1"},
    {"a\u0301\u0327", "\u00E1\u0327", "a\u0327\u0301", "\u00E1\u0327", "a\u0327\u0301"},
    {"\uD55C", "\uD55C", "\u1112\u1161\u11AB", "\uD55C", "\u1112\u1161\u11AB"},
    {"\u1100\u1161\u11AB", "\uAC04", "\u1100\u1161\u11AB", "\uAC04", "\u1100\u1161\u11AB"},
    {"\u0958", "\u0915\u093C", "\u0915\u093C", "\u0915\u093C", "\u0915\u093C"},  // exclusion
    {"\u212B", "\u00C5", "A\u030A", "\u00C5", "A\u030A"},                        // singleton
    {"\u1E9B\u0323", "\u1E9B\u0323", "\u017F\u0323\u0307", "\u1E69", "s\u0323\u0307"},
    {"\u03A9\u0345\u0301", "\u038F\u0345", "\u03A9\u0301\u0345", "\u038F\u0345", "\u03A9\u0301\u0345"},
    {"x\u0308\u0301\u0323", "\u1E8D\u0323\u0301", "x\u0323\u0308\u0301", "\u1E8D\u0323\u0301",
     "x\u0323\u0308\u0301"},
    {"\u00C5\u0323", "\u1EA0\u030A", "A\u0323\u030A", "\u1EA0\u030A", "A\u0323\u030A"},
    {"\u3300", "\u3300", "\u3300", "\u30A2\u30D1\u30FC\u30C8", "\u30A2\u30CF\u309A\u30FC\u30C8"},
    {"plain ASCII", "plain ASCII", "plain ASCII", "plain ASCII", "plain ASCII"},
};

TEST(Unicode, NormalizationFormsMatchPython) {
  for (const NormCase& c : kNormCases) {
    EXPECT_EQ(normalize(NormalizationForm::kNFC, c.input), c.nfc) << c.input;
    EXPECT_EQ(normalize(NormalizationForm::kNFD, c.input), c.nfd) << c.input;
    EXPECT_EQ(normalize(NormalizationForm::kNFKC, c.input), c.nfkc) << c.input;
    EXPECT_EQ(normalize(NormalizationForm::kNFKD, c.input), c.nfkd) << c.input;
  }
}

std::vector<char32_t> norm(NormalizationForm form, const std::vector<char32_t>& in) {
  std::vector<uint32_t> origins(in.size(), 0);
  std::vector<char32_t> out;
  std::vector<uint32_t> out_origins;
  normalize(form, in, origins, out, out_origins);
  return out;
}

// The invariants of UAX #15 over every code point (and pairs with a following mark), which
// tie the decomposition, ordering and composition tables together.
TEST(Unicode, NormalizationInvariantsHoldForEveryCodePoint) {
  using F = NormalizationForm;
  for (char32_t cp = 0; cp < 0x30000; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    for (const std::vector<char32_t>& s :
         {std::vector<char32_t>{cp}, std::vector<char32_t>{cp, U'\u0301'}}) {
      const auto nfd = norm(F::kNFD, s);
      const auto nfc = norm(F::kNFC, s);
      const auto nfkd = norm(F::kNFKD, s);
      ASSERT_EQ(norm(F::kNFD, nfd), nfd) << static_cast<uint32_t>(cp);
      ASSERT_EQ(norm(F::kNFC, nfc), nfc) << static_cast<uint32_t>(cp);
      ASSERT_EQ(norm(F::kNFC, nfd), nfc) << static_cast<uint32_t>(cp);
      ASSERT_EQ(norm(F::kNFD, nfc), nfd) << static_cast<uint32_t>(cp);
      ASSERT_EQ(norm(F::kNFKC, s), norm(F::kNFC, nfkd)) << static_cast<uint32_t>(cp);
      ASSERT_EQ(norm(F::kNFKD, nfkd), nfkd) << static_cast<uint32_t>(cp);
    }
  }
}

TEST(Unicode, NormalizationCarriesOriginalOffsets) {
  // "e" + U+0301 at offsets 0 and 1, "x" at 3: the composite keeps the origin of its starter.
  const std::vector<char32_t> in{U'e', U'\u0301', U'x'};
  const std::vector<uint32_t> origins{0, 1, 3};
  std::vector<char32_t> out;
  std::vector<uint32_t> out_origins;
  normalize(NormalizationForm::kNFC, in, origins, out, out_origins);
  EXPECT_EQ(out, (std::vector<char32_t>{U'\u00E9', U'x'}));
  EXPECT_EQ(out_origins, (std::vector<uint32_t>{0, 3}));
  // A compatibility expansion repeats the origin of its source.
  normalize(NormalizationForm::kNFKD, {U'a', U'\uFB01'}, {0, 1}, out, out_origins);
  EXPECT_EQ(out, (std::vector<char32_t>{U'a', U'f', U'i'}));
  EXPECT_EQ(out_origins, (std::vector<uint32_t>{0, 1, 1}));
}

}  // namespace
}  // namespace genarm::tokenizer
