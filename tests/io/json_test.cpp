#include "genarm/io/json.hpp"

#include <sys/stat.h>

#include <cstring>

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
  "rope": {"factor": "2", "theta": 10000.0},
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
  EXPECT_EQ(root().at("rope").size(), 2u);
}

TEST(JsonView, PresenceTreatsNullAsAbsent) {
  EXPECT_TRUE(root().has("hidden_size"));
  EXPECT_FALSE(root().has("nothing"));
  EXPECT_FALSE(root().has("absent"));
  EXPECT_FALSE(root().find("nothing").has_value());
  EXPECT_FALSE(root().find("absent").has_value());
  ASSERT_TRUE(root().find("flag").has_value());
  EXPECT_TRUE(root().at("nothing").is_null()) << "at() returns a present null";
  EXPECT_FALSE(root().at("text").has("x")) << "has() on a non-object is false";
}

TEST(JsonView, DefaultsApplyToAbsentAndNullKeys) {
  EXPECT_EQ(root().get_int("absent", 7), 7);
  EXPECT_EQ(root().get_int("nothing", 7), 7);
  EXPECT_EQ(root().get_int("hidden_size", 7), 64);
  EXPECT_DOUBLE_EQ(root().get_number("absent", 1.5), 1.5);
  EXPECT_FALSE(root().get_bool("absent", false));
  EXPECT_TRUE(root().get_bool("flag", false));
  EXPECT_EQ(root().get_string("absent", "x"), "x");
  // A present value of the wrong type is still an error, not the default.
  GENARM_EXPECT_ERROR(root().get_int("text", 7), ErrorCategory::kConfig, "key 'text': expected an integer");
}

TEST(JsonView, TypeErrorsNameFileKeyAndValue) {
  GENARM_EXPECT_ERROR(root().at("text").as_int(), ErrorCategory::kConfig,
                      "config.json: key 'text': expected an integer, got string \"64\"");
  GENARM_EXPECT_ERROR(root().at("fraction").as_int(), ErrorCategory::kConfig, "key 'fraction': expected an integer, got number 2.5");
  GENARM_EXPECT_ERROR(root().at("flag").as_int(), ErrorCategory::kConfig, "expected an integer, got boolean true");
  GENARM_EXPECT_ERROR(root().at("big").as_int(), ErrorCategory::kConfig, "key 'big': expected an integer",
                      "18446744073709551615");
  GENARM_EXPECT_ERROR(root().at("rope").at("factor").as_number(), ErrorCategory::kConfig,
                      "config.json: key 'rope.factor': expected a number, got string \"2\"");
  GENARM_EXPECT_ERROR(root().at("hidden_size").as_bool(), ErrorCategory::kConfig, "key 'hidden_size': expected a boolean, got number 64");
  GENARM_EXPECT_ERROR(root().at("flag").as_string(), ErrorCategory::kConfig, "key 'flag': expected a string, got boolean true");
  GENARM_EXPECT_ERROR(root().at("ids").at(size_t{2}).as_int(), ErrorCategory::kConfig, "key 'ids[2]': expected an integer");
  GENARM_EXPECT_ERROR(root().at("text").at("x"), ErrorCategory::kConfig, "key 'text': expected an object");
  GENARM_EXPECT_ERROR(root().at("text").at(size_t{0}), ErrorCategory::kConfig, "key 'text': expected an array");
  GENARM_EXPECT_ERROR(root().at("flag").size(), ErrorCategory::kConfig, "key 'flag': expected an array");
}

TEST(JsonView, RootTypeErrorsSayRoot) {
  const json array = json::array({1});
  GENARM_EXPECT_ERROR(JsonView(array, "x.json").at("k"), ErrorCategory::kConfig, "x.json: key '<root>': expected an object, got array [1]");
}

TEST(JsonView, MissingKeysAndIndicesAreNamed) {
  GENARM_EXPECT_ERROR(root().at("vocab_size"), ErrorCategory::kConfig, "config.json: missing key 'vocab_size'");
  GENARM_EXPECT_ERROR(root().at("rope").at("low_freq_factor"), ErrorCategory::kConfig, "missing key 'rope.low_freq_factor'");
  GENARM_EXPECT_ERROR(root().at("ids").at(size_t{3}), ErrorCategory::kConfig, "key 'ids': index 3 out of range (size 3)");
}

TEST(JsonView, RangesAreChecked) {
  EXPECT_EQ(root().at("hidden_size").as_int_in(1, 64), 64);
  GENARM_EXPECT_ERROR(root().at("negative").as_int_in(0, 10), ErrorCategory::kConfig,
                      "key 'negative': value -3 out of range [0, 10]");
  GENARM_EXPECT_ERROR(root().at("hidden_size").as_int_in(1, 63), ErrorCategory::kConfig, "value 64 out of range [1, 63]");
}

TEST(JsonView, CategoryIsTheCallers) {
  GENARM_EXPECT_ERROR(root().at("absent", ErrorCategory::kFormat), ErrorCategory::kFormat, "missing key 'absent'");
  GENARM_EXPECT_ERROR(root().at("text").as_int(ErrorCategory::kTokenizer), ErrorCategory::kTokenizer, "expected an integer");
  GENARM_EXPECT_ERROR(root().at("text").type_error("a widget", ErrorCategory::kFormat), ErrorCategory::kFormat,
                      "key 'text': expected a widget, got string");
}

TEST(JsonView, AccessorsReportOriginAndPath) {
  const auto v = root().at("rope").at("theta");
  EXPECT_EQ(v.origin(), "config.json");
  EXPECT_EQ(v.path(), "rope.theta");
  EXPECT_TRUE(v.is_number());
  EXPECT_TRUE(root().at("rope").is_object());
  EXPECT_TRUE(root().at("ids").is_array());
  EXPECT_TRUE(root().at("text").is_string());
  EXPECT_EQ(&root().at("rope").json(), &kDoc["rope"]);
}

TEST(DescribeJson, IsShortAndTyped) {
  EXPECT_EQ(describe_json(json(3)), "number 3");
  EXPECT_EQ(describe_json(json("a")), "string \"a\"");
  EXPECT_EQ(describe_json(json(nullptr)), "null null");
  const std::string long_text = describe_json(json(std::string(200, 'x')));
  EXPECT_LE(long_text.size(), 7u + 60u);
  EXPECT_EQ(long_text.substr(long_text.size() - 3), "...");
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
