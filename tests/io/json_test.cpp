#include "genarm/io/json.hpp"

#include <sys/stat.h>

#include <cstring>
#include <string>
#include <vector>

#include "io_test_helpers.hpp"

namespace genarm::io {
namespace {

using genarm::testing::TempDir;
using genarm::testing::write_file;
using nlohmann::json;

const json kDoc = json::parse(R"({
  "hidden_size": 64,
  "float_int": 4096.0,
  "fraction": 2.5,
  "text": "64",
  "flag": true,
  "nothing": null,
  "big": 18446744073709551615,
  "negative": -3,
  "rope": {"type": "linear", "factor": "2", "theta": 10000.0},
  "ids": [1, 2, "three"]
})");

JsonView root() { return JsonView(kDoc, "config.json"); }

TEST(JsonView, ReadsTypedValues) {
  EXPECT_EQ(root().at("hidden_size").as_int(), 64);
  EXPECT_EQ(root().at("float_int").as_int(), 4096) << "an integral float is an integer";
  EXPECT_EQ(root().at("negative").as_int(), -3);
  EXPECT_DOUBLE_EQ(root().at("fraction").as_number(), 2.5);
  EXPECT_DOUBLE_EQ(root().at("hidden_size").as_number(), 64.0);
  EXPECT_TRUE(root().at("flag").as_bool());
  EXPECT_EQ(root().at("text").as_string(), "64");
  EXPECT_EQ(root().at("rope").at("theta").as_number(), 10000.0);
  EXPECT_EQ(root().at("ids").at(size_t{1}).as_int(), 2);
  EXPECT_EQ(root().at("ids").size(), 3u);
  EXPECT_EQ(root().at("rope").type(), "linear");
}

TEST(JsonView, PresenceTreatsNullAsAbsent) {
  EXPECT_TRUE(root().has("hidden_size"));
  EXPECT_FALSE(root().has("nothing"));
  EXPECT_FALSE(root().has("absent"));
  EXPECT_FALSE(root().find("nothing").has_value());
  EXPECT_FALSE(root().find("absent").has_value());
  ASSERT_TRUE(root().find("flag").has_value());
  GENARM_EXPECT_ERROR(root().at("nothing"), ErrorCategory::kConfig, "config.json: nothing: missing required key");
  EXPECT_TRUE(root().at("ids").is_array());
  EXPECT_FALSE(root().at("ids").is_null());
  EXPECT_FALSE(root().at("text").has("x")) << "has() on a non-object is false";
}

TEST(JsonView, DefaultsApplyToAbsentAndNullKeys) {
  EXPECT_EQ(root().get_int("absent", 7), 7);
  EXPECT_EQ(root().get_int("nothing", 7), 7);
  EXPECT_EQ(root().get_int("hidden_size", 7), 64);
  EXPECT_EQ(root().get_int("hidden_size", 7, 0, 64), 64);
  EXPECT_DOUBLE_EQ(root().get_number("absent", 1.5), 1.5);
  EXPECT_FALSE(root().get_bool("absent", false));
  EXPECT_TRUE(root().get_bool("flag", false));
  EXPECT_EQ(root().get_string("absent", "x"), "x");
  EXPECT_EQ(root().get_string("text", "x"), "64");
  // A present value of the wrong type, or out of range, is still an error, not the default.
  GENARM_EXPECT_ERROR(root().get_int("text", 7), ErrorCategory::kConfig, "config.json: text: expected an integer");
  GENARM_EXPECT_ERROR(root().get_int("hidden_size", 7, 0, 10), ErrorCategory::kConfig,
                      "config.json: hidden_size: expected an integer in [0, 10], got an integer 64");
  GENARM_EXPECT_ERROR(root().get_bool("text", false), ErrorCategory::kConfig, "config.json: text: expected a boolean");
}

TEST(JsonView, TypeErrorsNameFileKeyAndValue) {
  EXPECT_EQ(testing::error_message([] { root().at("text").as_int(); }),
            "config.json: text: expected an integer, got a string \"64\"");
  GENARM_EXPECT_ERROR(root().at("fraction").as_int(), ErrorCategory::kConfig, "fraction: expected an integer, got a number 2.5");
  GENARM_EXPECT_ERROR(root().at("flag").as_int(), ErrorCategory::kConfig, "expected an integer, got a boolean true");
  GENARM_EXPECT_ERROR(root().at("rope").at("factor").as_number(), ErrorCategory::kConfig,
                      "config.json: rope.factor: expected a number, got a string \"2\"");
  GENARM_EXPECT_ERROR(root().at("hidden_size").as_bool(), ErrorCategory::kConfig, "hidden_size: expected a boolean, got an integer 64");
  GENARM_EXPECT_ERROR(root().at("flag").as_string(), ErrorCategory::kConfig, "flag: expected a string, got a boolean true");
  const json nulls = json::array({nullptr});
  GENARM_EXPECT_ERROR(JsonView(nulls, "n.json").at(size_t{0}).as_string(), ErrorCategory::kConfig,
                      "n.json: [0]: expected a string, got null");
  GENARM_EXPECT_ERROR(root().at("ids").at(size_t{2}).as_int(), ErrorCategory::kConfig,
                      "config.json: ids[2]: expected an integer, got a string \"three\"");
  GENARM_EXPECT_ERROR(root().at("text").at("x"), ErrorCategory::kConfig, "text: expected an object");
  GENARM_EXPECT_ERROR(root().at("text").at(size_t{0}), ErrorCategory::kConfig, "text: expected an array");
  GENARM_EXPECT_ERROR(root().at("flag").size(), ErrorCategory::kConfig, "flag: expected an array");
  GENARM_EXPECT_ERROR(root().at("rope").size(), ErrorCategory::kConfig, "rope: expected an array, got an object {");
  GENARM_EXPECT_ERROR(root().at("text").type_error("a widget"), ErrorCategory::kConfig,
                      "config.json: text: expected a widget, got a string \"64\"");
}

TEST(JsonView, RootErrorsNameOnlyTheOrigin) {
  const json array = json::array({1});
  EXPECT_EQ(testing::error_message([&] { JsonView(array, "x.json").at("k"); }),
            "x.json: expected an object, got an array [1]");
  EXPECT_EQ(testing::error_message([&] { JsonView(array, "x.json").fail("too short"); }), "x.json: too short");
}

TEST(JsonView, MissingKeysAndIndicesAreNamed) {
  EXPECT_EQ(testing::error_message([] { root().at("vocab_size"); }), "config.json: vocab_size: missing required key");
  GENARM_EXPECT_ERROR(root().at("rope").at("low_freq_factor"), ErrorCategory::kConfig,
                      "config.json: rope.low_freq_factor: missing required key");
  GENARM_EXPECT_ERROR(root().at("ids").at(size_t{3}), ErrorCategory::kConfig, "config.json: ids: index 3 out of range (size 3)");
}

TEST(JsonView, IntegersAreCheckedAgainstTheirRange) {
  EXPECT_EQ(root().at("hidden_size").as_int(1, 64), 64);
  EXPECT_EQ(root().at("float_int").as_int(0, 4096), 4096);
  GENARM_EXPECT_ERROR(root().at("negative").as_int(0, 10), ErrorCategory::kConfig,
                      "config.json: negative: expected an integer in [0, 10], got an integer -3");
  GENARM_EXPECT_ERROR(root().at("hidden_size").as_int(1, 63), ErrorCategory::kConfig, "expected an integer in [1, 63], got an integer 64");
  GENARM_EXPECT_ERROR(root().at("fraction").as_int(0, 10), ErrorCategory::kConfig,
                      "fraction: expected an integer, got a number 2.5");
  // Above INT64_MAX: out of range even without bounds, not wrapped to a negative number.
  GENARM_EXPECT_ERROR(root().at("big").as_int(), ErrorCategory::kConfig,
                      "big: expected an integer in [-9223372036854775808, 9223372036854775807], got an integer 18446744073709551615");
}

TEST(JsonView, StringsMustBeValidUtf8) {
  // Parsed JSON text is valid UTF-8; a json built in code need not be.
  const json doc = {{"ok", "caf\xc3\xa9"}, {"bad", std::string("ab\xff")}};
  const JsonView view(doc, "tokenizer.json", ErrorCategory::kTokenizer);
  EXPECT_EQ(view.at("ok").as_string(), "caf\xc3\xa9");
  GENARM_EXPECT_ERROR(view.at("bad").as_string(), ErrorCategory::kTokenizer,
                      "tokenizer.json: bad: string is not valid UTF-8 (ill-formed sequence at byte offset 2)");
  GENARM_EXPECT_ERROR(view.get_string("bad", ""), ErrorCategory::kTokenizer, "byte offset 2");
  // Describing such a value for another error replaces the bad byte rather than throwing.
  GENARM_EXPECT_ERROR(view.at("bad").as_int(), ErrorCategory::kTokenizer, "bad: expected an integer, got a string \"ab");
}

TEST(JsonView, CategoryIsChosenOncePerView) {
  const JsonView tok(kDoc, "tokenizer.json", ErrorCategory::kTokenizer);
  GENARM_EXPECT_ERROR(tok.at("absent"), ErrorCategory::kTokenizer, "tokenizer.json: absent: missing required key");
  GENARM_EXPECT_ERROR(tok.at("rope").at("factor").as_int(), ErrorCategory::kTokenizer, "rope.factor: expected an integer");
  GENARM_EXPECT_ERROR(tok.at("ids").at(size_t{2}).fail("bad id"), ErrorCategory::kTokenizer, "tokenizer.json: ids[2]: bad id");
  GENARM_EXPECT_ERROR(tok.at("rope").unsupported("rope type 'yarn'"), ErrorCategory::kUnsupported,
                      "tokenizer.json: rope: rope type 'yarn'");
  const JsonView data(kDoc, "prompts.jsonl:3", ErrorCategory::kFormat);
  GENARM_EXPECT_ERROR(data.at("text").as_bool(), ErrorCategory::kFormat, "prompts.jsonl:3: text: expected a boolean");
  EXPECT_EQ(tok.at("rope").category(), ErrorCategory::kTokenizer);
}

TEST(JsonView, WithContextPrefixesTheLocation) {
  const auto inner = [] { fail(ErrorCategory::kTokenizer, "regex '(a': unbalanced parenthesis"); };
  EXPECT_EQ(testing::error_message([&] { root().at("rope").with_context(inner); }),
            "config.json: rope: regex '(a': unbalanced parenthesis");
  EXPECT_EQ(root().with_context([] { return 5; }), 5);
  GENARM_EXPECT_ERROR(root().with_context(inner), ErrorCategory::kTokenizer, "config.json: regex");
}

TEST(JsonView, MembersAreVisitedWithTheirPaths) {
  const json doc = json::parse(R"({"weight_map": {"lm_head.weight": 1, "norm": 2, "\u0120the": 3}})");
  std::vector<std::string> paths;
  JsonView(doc, "index.json").at("weight_map").for_each_member([&](const std::string& key, const JsonView& v) {
    paths.push_back(key + "=" + v.path());
    EXPECT_EQ(v.origin(), "index.json");
  });
  // Keys other than [A-Za-z0-9_-] are quoted, so that dots and spaces in them stay readable.
  EXPECT_EQ(paths, (std::vector<std::string>{"lm_head.weight=weight_map[\"lm_head.weight\"]", "norm=weight_map.norm",
                                             "\xc4\xa0the=weight_map[\"\xc4\xa0the\"]"}));
  GENARM_EXPECT_ERROR(root().at("ids").for_each_member([](const std::string&, const JsonView&) {}),
                      ErrorCategory::kConfig, "ids: expected an object");
  const json quote = {{"a\"b", 1}};
  GENARM_EXPECT_ERROR(JsonView(quote, "q.json").at("a\"b").as_string(), ErrorCategory::kConfig,
                      "q.json: [\"a\\\"b\"]: expected a string");
}

TEST(JsonView, AccessorsReportOriginPathAndType) {
  const auto v = root().at("rope").at("theta");
  EXPECT_EQ(v.origin(), "config.json");
  EXPECT_EQ(v.path(), "rope.theta");
  EXPECT_TRUE(v.is_number());
  EXPECT_EQ(v.type_name(), "a number");
  EXPECT_EQ(root().at("hidden_size").type_name(), "an integer");
  const json nulls = json::array({nullptr});
  EXPECT_TRUE(JsonView(nulls, "n.json").at(size_t{0}).is_null());
  EXPECT_EQ(JsonView(nulls, "n.json").at(size_t{0}).type_name(), "null");
  EXPECT_TRUE(root().at("rope").is_object());
  EXPECT_TRUE(root().at("ids").is_array());
  EXPECT_TRUE(root().at("text").is_string());
  EXPECT_TRUE(root().at("flag").is_boolean());
  EXPECT_EQ(&root().at("rope").json(), &kDoc["rope"]);
  EXPECT_EQ(JsonView(kDoc, "tokenizer.json", ErrorCategory::kTokenizer, "model").at("ids").path(), "model.ids");
}

TEST(DescribeJson, IsShortAndTyped) {
  EXPECT_EQ(describe_json(json(3)), "an integer 3");
  EXPECT_EQ(describe_json(json(2.5)), "a number 2.5");
  EXPECT_EQ(describe_json(json("a")), "a string \"a\"");
  EXPECT_EQ(describe_json(json(nullptr)), "null");
  EXPECT_EQ(describe_json(json::array({1, 2})), "an array [1,2]");
  const std::string long_text = describe_json(json(std::string(200, 'x')));
  EXPECT_LE(long_text.size(), 9u + 60u);
  EXPECT_EQ(long_text.substr(long_text.size() - 3), "...");
  // Cut on a character boundary: 'é' is two bytes.
  std::string accents;
  for (int i = 0; i < 40; ++i) accents += "\xc3\xa9";
  const std::string cut = describe_json(json(accents));
  EXPECT_TRUE(utf8::is_valid(cut)) << cut;
}

TEST(ReadJsonFile, ParsesAFile) {
  TempDir dir("json");
  write_file(dir / "a.json", R"({"a": [1, 2]})");
  EXPECT_EQ(read_json_file(dir / "a.json"), json::parse(R"({"a": [1, 2]})"));
}

TEST(ReadJsonFile, InvalidJsonIsAFormatErrorWithPosition) {
  TempDir dir("json");
  write_file(dir / "bad.json", "{\"a\": 1,\n \"b\": }");
  GENARM_EXPECT_ERROR(read_json_file(dir / "bad.json"), ErrorCategory::kFormat, (dir / "bad.json").string(),
                      "not valid JSON (byte 16)");
  write_file(dir / "empty.json", "");
  GENARM_EXPECT_ERROR(read_json_file(dir / "empty.json"), ErrorCategory::kFormat, "not valid JSON");
  // A number beyond double: nlohmann throws out_of_range rather than parse_error.
  write_file(dir / "huge.json", R"({"rope_theta": 1e400})");
  GENARM_EXPECT_ERROR(read_json_file(dir / "huge.json"), ErrorCategory::kFormat, (dir / "huge.json").string(),
                      "not valid JSON", "number overflow parsing '1e400'");
}

TEST(ParseJson, BoundsNestingDepthBeforeParsing) {
  // 128 levels parse; 129 do not (serde_json's limit, which HF's Rust tokenizers also apply).
  const json ok = parse_json(std::string(128, '[') + std::string(128, ']'), "a.json");
  EXPECT_TRUE(ok.is_array());
  GENARM_EXPECT_ERROR(parse_json(std::string(129, '[') + std::string(129, ']'), "a.json"), ErrorCategory::kFormat,
                      "a.json: JSON nested deeper than 128 levels (byte 129)");
  // Objects and arrays count alike; the first level too deep is reported, even in unclosed text.
  std::string mixed;
  for (int i = 0; i < 100000; ++i) mixed += i % 2 ? "[" : "{\"k\":";
  GENARM_EXPECT_ERROR(parse_json(mixed, "tokenizer.json"), ErrorCategory::kFormat,
                      "tokenizer.json: JSON nested deeper than 128 levels (byte 385)");
  // A custom limit.
  GENARM_EXPECT_ERROR(parse_json("[[[1]]]", "x", JsonLimits{.max_depth = 2}), ErrorCategory::kFormat,
                      "x: JSON nested deeper than 2 levels (byte 3)");
}

TEST(ParseJson, BracketsInsideStringsAreText) {
  const std::string brackets = std::string(1000, '[') + "{\\\"" + std::string(1000, '{');
  const json j = parse_json(R"({"chat_template": ")" + brackets + R"(", "b": [1]})", "tokenizer_config.json");
  EXPECT_EQ(j.at("chat_template").get<std::string>(), std::string(1000, '[') + "{\"" + std::string(1000, '{'));
  EXPECT_EQ(j.at("b"), json({1}));
  // An escaped backslash before the closing quote ends the string; the brackets after it count.
  GENARM_EXPECT_ERROR(parse_json(R"(["a\\", )" + std::string(200, '['), "x", JsonLimits{.max_depth = 100}),
                      ErrorCategory::kFormat, "x: JSON nested deeper than 100 levels (byte 108)");
  // An unterminated string is left to the parser.
  GENARM_EXPECT_ERROR(parse_json(R"(["abc)", "x"), ErrorCategory::kFormat, "x: not valid JSON (byte 6)");
}

TEST(ParseJson, BoundsTheTextSize) {
  GENARM_EXPECT_ERROR(parse_json("[1, 2, 3]", "big.json", JsonLimits{.max_bytes = 8}), ErrorCategory::kFormat,
                      "big.json: JSON text of 9 bytes exceeds the limit of 8 bytes");
  EXPECT_EQ(parse_json("[1, 2]", "big.json", JsonLimits{.max_bytes = 6}), json({1, 2}));
  EXPECT_EQ(JsonLimits{}.max_bytes, size_t{128} << 20);
}

TEST(ReadJsonFile, DeeplyNestedFilesAreFormatErrorsNotCrashes) {
  // `[` x 200000 used to overflow the stack: nlohmann parses and frees it iteratively, but
  // describe_json's dump() (for "expected an object, got ...") recursed once per level.
  TempDir dir("json");
  write_file(dir / "config.json", std::string(200000, '[') + std::string(200000, ']'));
  GENARM_EXPECT_ERROR(read_json_file(dir / "config.json"), ErrorCategory::kFormat,
                      (dir / "config.json").string() + ": JSON nested deeper than 128 levels (byte 129)");
  write_file(dir / "tokenizer.json", std::string(200000, '['));
  GENARM_EXPECT_ERROR(read_json_file(dir / "tokenizer.json"), ErrorCategory::kFormat,
                      (dir / "tokenizer.json").string() + ": JSON nested deeper than 128 levels");
}

TEST(ReadJsonFile, OversizedFilesAreRefusedBeforeReading) {
  TempDir dir("json");
  write_file(dir / "config.json", R"({"hidden_size": 64})");
  GENARM_EXPECT_ERROR(read_json_file(dir / "config.json", JsonLimits{.max_bytes = 10}), ErrorCategory::kFormat,
                      (dir / "config.json").string() + ": JSON text of 19 bytes exceeds the limit of 10 bytes");
}

TEST(ReadJsonFile, MissingFileIsAnIoError) {
  TempDir dir("json");
  GENARM_EXPECT_ERROR(read_json_file(dir / "none.json"), ErrorCategory::kIo, (dir / "none.json").string(), "cannot open",
                      std::strerror(ENOENT));
}

TEST(ReadJsonFile, DirectoryIsAnIoError) {
  TempDir dir("json");
  std::filesystem::create_directory(dir / "config.json");
  GENARM_EXPECT_ERROR(read_json_file(dir / "config.json"), ErrorCategory::kIo, (dir / "config.json").string(),
                      "not a regular file");
}

TEST(ReadJsonFile, FifoIsAnIoErrorNotAHang) {
  TempDir dir("json");
  ASSERT_EQ(::mkfifo((dir / "config.json").c_str(), 0600), 0);
  GENARM_EXPECT_ERROR(read_json_file(dir / "config.json"), ErrorCategory::kIo, "not a regular file");
}

}  // namespace
}  // namespace genarm::io
