#include "genarm/tokenizer/decoder.hpp"

#include <memory>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace genarm::tokenizer {
namespace {

using Strings = std::vector<std::string>;

std::unique_ptr<Decoder> parse_decoder(const std::string& json) {
  const nlohmann::json j = nlohmann::json::parse(json);
  return make_decoder(io::JsonView(j, "tokenizer.json", ErrorCategory::kTokenizer, "decoder"));
}

// The token list after decode_chain (HF tests compare these lists).
Strings chain(const Decoder& d, const Strings& tokens) {
  TokenList list;
  for (const auto& t : tokens) list.append(t);
  DecoderScratch scratch;
  d.decode_chain(list, scratch);
  Strings out;
  for (size_t i = 0; i < list.size(); ++i) out.push_back(list[i]);
  return out;
}

const std::string kFffd(utf8::kReplacementUtf8);

// HF byte_fallback.rs tests.
TEST(Decoder, ByteFallbackDecodesRunsAllOrNothing) {
  const ByteFallbackDecoder d;
  EXPECT_EQ(chain(d, {"Hey", "friend!"}), (Strings{"Hey", "friend!"}));
  EXPECT_EQ(chain(d, {"<0x61>"}), (Strings{"a"}));
  EXPECT_EQ(chain(d, {"<0xE5>"}), (Strings{kFffd}));
  EXPECT_EQ(chain(d, {"<0xE5>", "<0x8f>"}), (Strings{kFffd, kFffd}));
  EXPECT_EQ(chain(d, {"<0xE5>", "<0x8f>", "<0xab>"}), (Strings{"\u53EB"}));
  EXPECT_EQ(chain(d, {"<0xE5>", "<0x8f>", "<0xab>", "a"}), (Strings{"\u53EB", "a"}));
  EXPECT_EQ(chain(d, {"<0xE5>", "<0x8f>", "a"}), (Strings{kFffd, kFffd, "a"}));
  EXPECT_EQ(chain(d, {"x", "<0xC3>", "<0xA9>", "y", "<0x41>"}), (Strings{"x", "\u00E9", "y", "A"}));
  EXPECT_EQ(chain(d, {"<0xZZ>", "<0x4>"}), (Strings{"<0xZZ>", "<0x4>"}));
  EXPECT_FALSE(d.is_cut_point("<0x41>"));
  EXPECT_TRUE(d.is_cut_point("A"));
}

// HF strip.rs tests.
TEST(Decoder, StripRemovesLeadingAndTrailingContent) {
  EXPECT_EQ(chain(StripDecoder(U'H', 1, 0), {"Hey", " friend!", "HHH"}), (Strings{"ey", " friend!", "HH"}));
  EXPECT_EQ(chain(StripDecoder(U'y', 0, 1), {"Hey", " friend!"}), (Strings{"He", " friend!"}));
  EXPECT_EQ(chain(StripDecoder(U' ', 2, 2), {"   a   ", " "}), (Strings{" a ", ""}));
}

TEST(Decoder, MetaspaceReplaceFuseWordPieceBpe) {
  EXPECT_EQ(chain(MetaspaceDecoder(U'\u2581', PrependScheme::kAlways), {"\u2581Hey", "\u2581friend!"}),
            (Strings{"Hey", " friend!"}));
  EXPECT_EQ(chain(MetaspaceDecoder(U'\u2581', PrependScheme::kNever), {"\u2581Hey", "\u2581friend!"}),
            (Strings{" Hey", " friend!"}));
  // HF drops every replacement character of the first token, not only the leading one.
  EXPECT_EQ(chain(MetaspaceDecoder(U'\u2581', PrependScheme::kFirst), {"\u2581a\u2581b", "\u2581c"}),
            (Strings{"ab", " c"}));
  EXPECT_EQ(chain(*parse_decoder(R"({"type":"Replace","pattern":{"String":"_"},"content":" "})"), {"hello", "_hello"}),
            (Strings{"hello", " hello"}));
  EXPECT_EQ(chain(FuseDecoder(), {"a", "b", "c"}), (Strings{"abc"}));
  EXPECT_EQ(chain(FuseDecoder(), {}), (Strings{""}));
  EXPECT_EQ(WordPieceDecoder("##", false).decode({"##uelo", "Ara", "##\u00FAj", "##o", "No", "##guera"}),
            "##uelo Ara\u00FAjo Noguera");
  // Cleanup works token by token, as in HF: " do not" is fixed only inside one token.
  EXPECT_EQ(WordPieceDecoder("##", true).decode({"I", "do not", "know", "##s", "."}), "I don't knows.");
  EXPECT_EQ(WordPieceDecoder("##", true).decode({"I", "do", "not", "."}), "I do not.");
  EXPECT_EQ(BpeDecoder("</w>").decode({"hel", "lo</w>", "wor", "ld</w>"}), "hello world");
}

TEST(Decoder, ByteLevelMapsCharactersBackToBytes) {
  const ByteLevelDecoder d;
  EXPECT_EQ(d.decode({"Hello", "\u0120my", "\u0120friend", ",", "\u0120how"}), "Hello my friend, how");
  EXPECT_EQ(d.decode({"\u00E6\u0139", "\u00A5"}), "\u65E5");            // 日 split across tokens
  EXPECT_EQ(d.decode({"\u00E6\u0139", "A"}), kFffd + "A");               // a truncated sequence
  EXPECT_EQ(d.decode({"<|endoftext|>", "\u0120x"}), "<|endoftext|> x");  // all ASCII: mapped
  EXPECT_EQ(d.decode({"\u2581a", "b"}), "\u2581ab");                     // not byte-level: raw bytes
}

TEST(Decoder, Llama2ChainFromJson) {
  const auto d = parse_decoder(R"({"type":"Sequence","decoders":[
      {"type":"Replace","pattern":{"String":"\u2581"},"content":" "},{"type":"ByteFallback"},
      {"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]})");
  EXPECT_EQ(d->decode({"\u2581Hello", "\u2581world", "<0x21>"}), "Hello world!");
  EXPECT_EQ(d->decode({"\u2581", "\u2581two"}), " two");
  EXPECT_EQ(d->decode({"<0xE6>", "<0x97>", "<0xA5>", "\u2581x"}), "\u65E5 x");
  EXPECT_FALSE(d->is_cut_point("<0xE6>"));
  EXPECT_TRUE(d->is_cut_point("\u2581x"));
}

TEST(Decoder, UnsupportedAndMalformedDecodersAreRefused) {
  GENARM_EXPECT_ERROR(parse_decoder(R"({"type":"CTC","pad_token":"<pad>"})"), ErrorCategory::kUnsupported,
                      "decoder: unsupported decoder type 'CTC'");
  GENARM_EXPECT_ERROR(parse_decoder(R"({"type":"Sequence","decoders":[{"type":"Fuse"},{"type":"Nope"}]})"),
                      ErrorCategory::kUnsupported, "decoder.decoders[1]");
  GENARM_EXPECT_ERROR(parse_decoder(R"({"type":"Strip","content":" ","start":-1,"stop":0})"), ErrorCategory::kTokenizer,
                      "decoder.start: expected an integer in [0, 1048576], got an integer -1");
  GENARM_EXPECT_ERROR(parse_decoder(R"({"type":"Sequence","decoders":{}})"), ErrorCategory::kTokenizer,
                      "tokenizer.json: decoder.decoders: expected an array, got an object {}");
}

}  // namespace
}  // namespace genarm::tokenizer
