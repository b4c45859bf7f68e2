#include "genarm/io/jsonl.hpp"

#include "io_test_helpers.hpp"

namespace genarm::io {
namespace {

using genarm::testing::TempDir;
using genarm::testing::write_file;

TEST(JsonlReader, ReadsLinesAndSkipsBlankOnes) {
  TempDir dir("jsonl");
  write_file(dir / "in.jsonl", "{\"prompt\": \"a\"}\r\n\n  \n[1, 2]\n");
  JsonlReader reader(dir / "in.jsonl");
  EXPECT_EQ(reader.next(), nlohmann::json({{"prompt", "a"}}));
  EXPECT_EQ(reader.next(), nlohmann::json({1, 2}));
  EXPECT_EQ(reader.line_number(), 4u);
  EXPECT_EQ(reader.next(), std::nullopt);
}

TEST(JsonlReader, BrokenLinesAreFormatErrorsNamingFileAndLine) {
  TempDir dir("jsonl");
  write_file(dir / "in.jsonl", "{\"a\": 1}\n{\"a\": \n{\"a\": 1e400}\n");
  JsonlReader reader(dir / "in.jsonl");
  EXPECT_TRUE(reader.next().has_value());
  const std::string path = (dir / "in.jsonl").string();
  GENARM_EXPECT_ERROR(reader.next(), ErrorCategory::kFormat, path + ":2: not valid JSON (byte 7)");
  // A number beyond double: nlohmann throws out_of_range rather than parse_error.
  GENARM_EXPECT_ERROR(reader.next(), ErrorCategory::kFormat, path + ":3: not valid JSON",
                      "number overflow parsing '1e400'");
}

TEST(JsonlReader, DeepAndOverlongLinesAreRefusedNamingFileAndLine) {
  TempDir dir("jsonl");
  write_file(dir / "in.jsonl", "{\"a\": 1}\n" + std::string(200000, '[') + std::string(200000, ']') + "\n" +
                                   R"({"prompt": "[[[[ inside a string is text"})" + "\n" + std::string(100, 'x') + "\n");
  JsonlReader reader(dir / "in.jsonl", JsonLimits{.max_bytes = 64});
  const std::string path = (dir / "in.jsonl").string();
  EXPECT_TRUE(reader.next().has_value());
  // Refused at the limit, before the rest of the line is read into memory.
  GENARM_EXPECT_ERROR(reader.next(), ErrorCategory::kFormat, path + ":2: line longer than the limit of 64 bytes");

  JsonlReader deep(dir / "in.jsonl");
  EXPECT_TRUE(deep.next().has_value());
  GENARM_EXPECT_ERROR(deep.next(), ErrorCategory::kFormat, path + ":2: JSON nested deeper than 128 levels (byte 129)");
}

}  // namespace
}  // namespace genarm::io
