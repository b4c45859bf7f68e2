#include "genarm/core/utf8.hpp"

#include <random>
#include <string>

#include "test_support.hpp"

namespace genarm::utf8 {
namespace {

const std::string kFffd(kReplacementUtf8);

TEST(Utf8, DecodesWellFormedSequences) {
  const std::string s = "a\xC3\xA9\xE6\x97\xA5\xF0\x9F\x98\x80";  // a é 日 😀
  Decoded d = decode(s, 0);
  EXPECT_TRUE(d.valid);
  EXPECT_EQ(d.code_point, U'a');
  EXPECT_EQ(d.length, 1u);
  d = decode(s, 1);
  EXPECT_EQ(d.code_point, U'\u00E9');
  EXPECT_EQ(d.length, 2u);
  d = decode(s, 3);
  EXPECT_EQ(d.code_point, U'\u65E5');
  EXPECT_EQ(d.length, 3u);
  d = decode(s, 6);
  EXPECT_EQ(d.code_point, U'\U0001F600');
  EXPECT_EQ(d.length, 4u);
  uint32_t len = 0;
  EXPECT_EQ(decode_valid(s.data() + 6, len), U'\U0001F600');
  EXPECT_EQ(len, 4u);
}

TEST(Utf8, IllFormedSequencesReportTheirMaximalSubpart) {
  // A truncated 3-byte sequence is one maximal subpart of two bytes.
  Decoded d = decode("\xE6\x97", 0);
  EXPECT_FALSE(d.valid);
  EXPECT_EQ(d.length, 2u);
  // A surrogate's lead byte ED cannot be followed by A0: the subpart is the lead alone.
  EXPECT_EQ(decode("\xED\xA0\x80", 0).length, 1u);
  // Overlong and out-of-range leads.
  EXPECT_EQ(decode("\xC0\xAF", 0).length, 1u);
  EXPECT_EQ(decode("\xE0\x80\xAF", 0).length, 1u);
  EXPECT_EQ(decode("\xF4\x90\x80\x80", 0).length, 1u);
  EXPECT_EQ(decode("\xF0\x9F\x98", 0).length, 3u);
  EXPECT_EQ(decode("\xFF", 0).length, 1u);
}

TEST(Utf8, LossyDecodingReplacesEachMaximalSubpart) {
  // The example of Unicode section 3.9 (Table 3-8).
  EXPECT_EQ(from_utf8_lossy("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64"),
            "a" + kFffd + kFffd + kFffd + "b" + kFffd + "c" + kFffd + kFffd + "d");
  EXPECT_EQ(from_utf8_lossy("\xE6\x97"), kFffd);
  EXPECT_EQ(from_utf8_lossy("\xC0\xAF"), kFffd + kFffd);
  EXPECT_EQ(from_utf8_lossy("\xED\xA0\x80"), kFffd + kFffd + kFffd);
  EXPECT_EQ(from_utf8_lossy("\xE6\x41"), kFffd + "A");
  EXPECT_EQ(from_utf8_lossy("x\xF0\x9F\x98"), "x" + kFffd);
  EXPECT_EQ(from_utf8_lossy("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(from_utf8_lossy(""), "");
}

TEST(Utf8, FindInvalidReturnsTheStartOfTheFirstIllFormedSequence) {
  EXPECT_EQ(find_invalid("plain ascii text that is longer than eight bytes"), std::string_view::npos);
  EXPECT_EQ(find_invalid("caf\xC3\xA9 \xE6\x97\xA5"), std::string_view::npos);
  EXPECT_EQ(find_invalid("abc\xE6\x97"), 3u);
  EXPECT_EQ(find_invalid("\xFF" "abc"), 0u);
  EXPECT_EQ(find_invalid("0123456789abcdef\x80"), 16u);
  EXPECT_EQ(find_invalid("ok \xED\xA0\x80"), 3u);
  EXPECT_TRUE(is_valid(""));
  EXPECT_FALSE(is_valid("\xC3"));
}

TEST(Utf8, EncodeRoundTripsEveryScalarValue) {
  for (char32_t cp = 0; cp <= kMaxCodePoint; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    const std::string s = encode(cp);
    ASSERT_EQ(s.size(), encoded_length(cp));
    const Decoded d = decode(s, 0);
    ASSERT_TRUE(d.valid) << static_cast<uint32_t>(cp);
    ASSERT_EQ(d.code_point, cp);
    ASSERT_EQ(d.length, s.size());
  }
  EXPECT_EQ(encode(0xD800), kFffd);
  EXPECT_EQ(encode(0x110000), kFffd);
}

TEST(Utf8, LossyOutputIsAlwaysValidAndIdentityOnValidInput) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 2000; ++trial) {
    std::string bytes(rng() % 24, '\0');
    for (char& c : bytes) c = static_cast<char>(rng() % 256);
    const std::string lossy = from_utf8_lossy(bytes);
    ASSERT_TRUE(is_valid(lossy));
    EXPECT_EQ(from_utf8_lossy(lossy), lossy);
    if (is_valid(bytes)) {
      EXPECT_EQ(lossy, bytes);
    }
  }
}

TEST(Utf8, EndsWithReplacement) {
  EXPECT_TRUE(ends_with_replacement("ab" + kFffd));
  EXPECT_FALSE(ends_with_replacement(kFffd + "a"));
  EXPECT_FALSE(ends_with_replacement(""));
}

}  // namespace
}  // namespace genarm::utf8
