#include "genarm/tokenizer/post_processor.hpp"

#include <memory>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace genarm::tokenizer {
namespace {

using Ids = std::vector<int32_t>;
using Strings = std::vector<std::string>;

std::unique_ptr<PostProcessor> parse_post_processor(const std::string& json) {
  const nlohmann::json j = nlohmann::json::parse(json);
  return make_post_processor(io::JsonView(j, "tokenizer.json", ErrorCategory::kTokenizer, "post_processor"), 1000);
}

void add_specials(const PostProcessor& p, Ids& ids, Strings& tokens) { p.add_special_tokens(ids, &tokens); }

constexpr const char* kLlama2 = R"({"type":"TemplateProcessing",
  "single":[{"SpecialToken":{"id":"<s>","type_id":0}},{"Sequence":{"id":"A","type_id":0}}],
  "pair":[{"SpecialToken":{"id":"<s>","type_id":0}},{"Sequence":{"id":"A","type_id":0}},
          {"SpecialToken":{"id":"<s>","type_id":0}},{"Sequence":{"id":"B","type_id":1}}],
  "special_tokens":{"<s>":{"id":"<s>","ids":[1],"tokens":["<s>"]}}})";

TEST(PostProcessor, TemplateAddsBos) {
  const auto p = parse_post_processor(kLlama2);
  Ids ids{5, 6};
  Strings tokens{"a", "b"};
  add_specials(*p, ids, tokens);
  EXPECT_EQ(ids, (Ids{1, 5, 6}));
  EXPECT_EQ(tokens, (Strings{"<s>", "a", "b"}));
  Ids empty;
  p->add_special_tokens(empty, nullptr);
  EXPECT_EQ(empty, (Ids{1}));
}

TEST(PostProcessor, TemplateStringFormAndMultiTokenSpecials) {
  const auto p = parse_post_processor(R"({"type":"TemplateProcessing","single":"[CLS]:0 $A:0 [SEP]:0",
      "special_tokens":{"[CLS]":{"id":"[CLS]","ids":[101],"tokens":["[CLS]"]},
                        "[SEP]":{"id":"[SEP]","ids":[102,103],"tokens":["[SEP]","[SEP2]"]}}})");
  Ids ids{7};
  Strings tokens{"x"};
  add_specials(*p, ids, tokens);
  EXPECT_EQ(ids, (Ids{101, 7, 102, 103}));
  EXPECT_EQ(tokens, (Strings{"[CLS]", "x", "[SEP]", "[SEP2]"}));
}

TEST(PostProcessor, RobertaBertByteLevelAndSequence) {
  Ids ids{7};
  Strings tokens{"x"};
  add_specials(*parse_post_processor(R"({"type":"RobertaProcessing","sep":["</s>",2],"cls":["<s>",0],"trim_offsets":true,"add_prefix_space":true})"),
        ids, tokens);
  EXPECT_EQ(ids, (Ids{0, 7, 2}));
  EXPECT_EQ(tokens, (Strings{"<s>", "x", "</s>"}));
  ids = {7};
  tokens = {"x"};
  add_specials(*parse_post_processor(R"({"type":"BertProcessing","sep":["[SEP]",102],"cls":["[CLS]",101]})"), ids, tokens);
  EXPECT_EQ(ids, (Ids{101, 7, 102}));
  ids = {7};
  tokens = {"x"};
  add_specials(*parse_post_processor(R"({"type":"ByteLevel","add_prefix_space":true,"trim_offsets":false,"use_regex":true})"), ids, tokens);
  EXPECT_EQ(ids, (Ids{7}));
  // Llama 3: ByteLevel then a template; the BOS is added once.
  ids = {7};
  tokens = {"x"};
  add_specials(*parse_post_processor(R"({"type":"Sequence","processors":[{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":false,"use_regex":true},
      {"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<|begin_of_text|>","type_id":0}},{"Sequence":{"id":"A","type_id":0}}],
       "pair":[],"special_tokens":{"<|begin_of_text|>":{"id":"<|begin_of_text|>","ids":[900],"tokens":["<|begin_of_text|>"]}}}]})"),
        ids, tokens);
  EXPECT_EQ(ids, (Ids{900, 7}));
  EXPECT_EQ(tokens, (Strings{"<|begin_of_text|>", "x"}));
}

TEST(PostProcessor, BadTemplatesAreRefused) {
  GENARM_EXPECT_ERROR(parse_post_processor(R"({"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>","type_id":0}}],"special_tokens":{}})"),
                      ErrorCategory::kTokenizer, "post_processor.single[0].SpecialToken", "'<s>' is not in special_tokens");
  GENARM_EXPECT_ERROR(parse_post_processor(R"({"type":"TemplateProcessing","single":[{"Sequence":{"id":"B","type_id":0}}]})"),
                      ErrorCategory::kUnsupported, "sequence 'B'");
  GENARM_EXPECT_ERROR(parse_post_processor(R"({"type":"TemplateProcessing","single":[{"Other":{}}]})"), ErrorCategory::kTokenizer,
                      "post_processor.single[0]");
  GENARM_EXPECT_ERROR(parse_post_processor(R"({"type":"TemplateProcessing","single":[],"special_tokens":{"x":{"id":"x","ids":[1,2],"tokens":["x"]}}})"),
                      ErrorCategory::kTokenizer, "post_processor.special_tokens.x", "differ in length");
  GENARM_EXPECT_ERROR(parse_post_processor(R"({"type":"RobertaProcessing","sep":"</s>","cls":["<s>",0]})"), ErrorCategory::kTokenizer,
                      "post_processor.sep: expected [token, id], got a string");
  GENARM_EXPECT_ERROR(parse_post_processor(R"({"type":"Magic"})"), ErrorCategory::kUnsupported, "unsupported post-processor type 'Magic'");
}

}  // namespace
}  // namespace genarm::tokenizer
