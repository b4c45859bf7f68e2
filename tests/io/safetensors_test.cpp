#include "genarm/io/safetensors.hpp"

#include <cmath>
#include <cstring>

#include "genarm/core/half.hpp"
#include "genarm/io/safetensors_writer.hpp"
#include "io_test_helpers.hpp"

namespace genarm::io {
namespace {

using genarm::testing::safetensors_bytes;
using genarm::testing::TempDir;
using genarm::testing::tensor_entry;
using genarm::testing::with_length_field;
using genarm::testing::write_file;
using nlohmann::json;

std::vector<float> floats_of(const TensorView& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < out.size(); ++i) {
    if (t.dtype == DType::kF32) {
      std::memcpy(&out[i], t.bytes.data() + 4 * i, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, t.bytes.data() + 2 * i, 2);
      out[i] = t.dtype == DType::kF16 ? f16_to_float(h) : bf16_to_float(h);
    }
  }
  return out;
}

class SafetensorsFileTest : public ::testing::Test {
 protected:
  std::filesystem::path write(const std::string& bytes) {
    write_file(path_, bytes);
    return path_;
  }
  // A file whose header is `header` (dumped) followed by `data_bytes` bytes must be rejected with a
  // format error naming the file and every fragment.
  void expect_rejected(const std::string& bytes, const std::vector<std::string>& fragments) {
    write(bytes);
    std::vector<std::string> all = fragments;
    all.push_back(path_.string());
    try {
      (void)SafetensorsFile::open(path_);
      ADD_FAILURE() << "accepted: " << bytes.substr(8, 200);
    } catch (const Error& e) {
      EXPECT_EQ(e.category(), ErrorCategory::kFormat) << e.what();
      for (const auto& f : all) {
        EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << "message '" << e.what() << "' lacks '" << f << "'";
      }
    }
  }
  void expect_header_rejected(const json& header, size_t data_bytes, const std::vector<std::string>& fragments) {
    expect_rejected(safetensors_bytes(header.dump(), data_bytes), fragments);
  }

  TempDir dir_{"safetensors"};
  std::filesystem::path path_ = dir_ / "weights.safetensors";
};

// --- valid files ---

TEST_F(SafetensorsFileTest, ReadsWhatTheWriterWrote) {
  SafetensorsWriter w;
  const std::vector<float> b = {1.5f, -2.0f, 0.25f, 3.0f, -0.125f, 1024.0f};
  const std::vector<float> a = {1.0f, -1.0f / 3.0f, 65504.0f, 6.0e-8f};
  const std::vector<float> c = {3.140625f};
  w.add("b", {2, 3}, b, DType::kF32);
  w.add("a", {4}, a, DType::kF16);
  w.add("c", {}, c, DType::kBF16);  // a scalar
  w.add("z", {0, 5}, std::vector<float>{}, DType::kF32);  // an empty tensor
  w.set_metadata("format", "pt");
  w.set_metadata("note", "round trip");
  w.write(write(""));

  const auto f = SafetensorsFile::open(path_);
  EXPECT_EQ(f.path(), path_);
  ASSERT_EQ(f.tensors().size(), 4u);
  for (size_t i = 1; i < f.tensors().size(); ++i) {
    EXPECT_LE(f.tensors()[i - 1].bytes.data(), f.tensors()[i].bytes.data()) << "sorted by offset";
  }
  const TensorView* tb = f.find("b");
  ASSERT_NE(tb, nullptr);
  EXPECT_EQ(tb->dtype, DType::kF32);
  EXPECT_EQ(tb->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(tb->shape_string(), "[2, 3]");
  EXPECT_EQ(tb->origin, path_.string());
  EXPECT_EQ(floats_of(*tb), b);
  const TensorView* ta = f.find("a");
  ASSERT_NE(ta, nullptr);
  EXPECT_EQ(ta->dtype, DType::kF16);
  EXPECT_EQ(ta->bytes.size(), 8u);
  const auto av = floats_of(*ta);
  EXPECT_EQ(av[0], 1.0f);
  EXPECT_EQ(av[1], f16_to_float(float_to_f16(-1.0f / 3.0f)));
  EXPECT_NEAR(av[1], -1.0f / 3.0f, 1e-3);
  EXPECT_EQ(av[2], 65504.0f);
  EXPECT_EQ(av[3], std::ldexp(1.0f, -24));  // 6e-8 rounds to the smallest subnormal
  const TensorView* tc = f.find("c");
  ASSERT_NE(tc, nullptr);
  EXPECT_EQ(tc->dtype, DType::kBF16);
  EXPECT_TRUE(tc->shape.empty());
  EXPECT_EQ(tc->numel(), 1);
  EXPECT_EQ(tc->shape_string(), "[]");
  EXPECT_EQ(floats_of(*tc), c);
  const TensorView* tz = f.find("z");
  ASSERT_NE(tz, nullptr);
  EXPECT_EQ(tz->numel(), 0);
  EXPECT_TRUE(tz->bytes.empty());
  EXPECT_EQ(f.find("missing"), nullptr);
  EXPECT_EQ(f.metadata(), (std::map<std::string, std::string>{{"format", "pt"}, {"note", "round trip"}}));
  EXPECT_EQ(f.mapping()->size(), std::filesystem::file_size(path_));
}

TEST(Safetensors, ParsesABufferAndAlignsTheWritersData) {
  SafetensorsWriter w;
  w.add("x", {3}, std::vector<float>{1, 2, 3});
  const std::string bytes = w.serialize();
  const auto span = std::as_bytes(std::span(bytes.data(), bytes.size()));
  const auto header = parse_safetensors(span, "buffer");
  EXPECT_EQ(header.data_offset % 8, 0u) << "the writer pads its header to 8 bytes";
  ASSERT_EQ(header.tensors.size(), 1u);
  EXPECT_EQ(header.tensors[0].origin, "buffer");
  EXPECT_EQ(header.tensors[0].bytes.data(), span.data() + header.data_offset);
  EXPECT_TRUE(header.metadata.empty());
}

TEST(Safetensors, AcceptsHeadersWithoutPaddingOrTensors) {
  const json header = {{"t", tensor_entry("I8", {2, 2}, 0, 4)}};
  const std::string bytes = safetensors_bytes(header.dump(), 4);  // unpadded, 4 data bytes
  const auto parsed = parse_safetensors(std::as_bytes(std::span(bytes.data(), bytes.size())), "i8");
  ASSERT_EQ(parsed.tensors.size(), 1u);
  EXPECT_EQ(parsed.tensors[0].dtype, DType::kI8) << "integer tensors are readable; only weights must be floats";
  const std::string empty = safetensors_bytes("{}", 0);
  EXPECT_TRUE(parse_safetensors(std::as_bytes(std::span(empty.data(), empty.size())), "empty").tensors.empty());
}

// --- hostile files: each is a format error naming the file and what is wrong ---

TEST_F(SafetensorsFileTest, RejectsEmptyFile) {
  expect_rejected("", {"file is 0 bytes, too short for a safetensors header"});
}

TEST_F(SafetensorsFileTest, RejectsFileShorterThanTheLengthField) {
  expect_rejected(std::string("\x10\0\0\0\0", 5), {"file is 5 bytes"});
}

TEST_F(SafetensorsFileTest, RejectsHeaderLongerThanTheFile) {
  expect_rejected(with_length_field(100, "{\"a\": 1}    "), {"header length 100 exceeds the 12 bytes after the length field"});
}

TEST_F(SafetensorsFileTest, RejectsAbsurdHeaderLengths) {
  expect_rejected(with_length_field(uint64_t{1} << 63, "{}"),
                  {"header length 9223372036854775808 exceeds the limit of 100000000 bytes"});
  expect_rejected(with_length_field(~uint64_t{0}, "{}"), {"header length 18446744073709551615 exceeds the limit"});
  expect_rejected(with_length_field(100'000'001, "{}"), {"header length 100000001 exceeds the limit"});
}

TEST_F(SafetensorsFileTest, RejectsHeaderThatIsNotJson) {
  expect_rejected(safetensors_bytes("{\"a\": {\"dtype\": ", 0), {": header: not valid JSON (byte 17)"});
  expect_rejected(safetensors_bytes("{\"a\": 1} trailing", 0), {": header: not valid JSON"});
  // nlohmann throws out_of_range, not parse_error, for a number too large for a double.
  expect_rejected(safetensors_bytes("{\"a\": 1e400}", 0), {": header: not valid JSON", "number overflow parsing '1e400'"});
}

TEST_F(SafetensorsFileTest, RejectsDeeplyNestedHeaders) {
  // Valid JSON 200000 levels deep: refused before nlohmann builds it (dump() and copies recurse).
  const std::string deep = "{\"__metadata__\": " + std::string(200000, '[') + std::string(200000, ']') + "}";
  expect_rejected(safetensors_bytes(deep, 0), {": header: JSON nested deeper than 128 levels (byte 145)"});
  expect_rejected(safetensors_bytes("{\"a\":" + std::string(200000, '{'), 0), {": header: JSON nested deeper than 128 levels"});
}

TEST_F(SafetensorsFileTest, RejectsJsonThatIsNotAnObject) {
  expect_rejected(safetensors_bytes("[1, 2]", 0), {"header does not start with a JSON object"});
  expect_rejected(safetensors_bytes("\"F32\"", 0), {"header does not start with a JSON object"});
  expect_rejected(with_length_field(0, ""), {"header does not start with a JSON object"});
}

TEST_F(SafetensorsFileTest, RejectsMalformedTensorEntries) {
  expect_header_rejected({{"w", 5}}, 0, {"tensor 'w': expected an object {dtype, shape, data_offsets}, got an integer 5"});
  expect_header_rejected({{"w", {{"shape", {1}}, {"data_offsets", {0, 4}}}}}, 4, {"tensor 'w': missing key 'dtype'"});
  expect_header_rejected({{"w", {{"dtype", "F32"}, {"data_offsets", {0, 4}}}}}, 4, {"tensor 'w': missing key 'shape'"});
  expect_header_rejected({{"w", {{"dtype", "F32"}, {"shape", {1}}}}}, 4, {"tensor 'w': missing key 'data_offsets'"});
  expect_header_rejected({{"", tensor_entry("F32", {1}, 0, 4)}}, 4, {"a tensor has an empty name"});
}

TEST_F(SafetensorsFileTest, RejectsUnknownDtypes) {
  expect_header_rejected({{"w", tensor_entry("Q4_K", {2}, 0, 2)}}, 2, {"tensor 'w': unknown dtype 'Q4_K'"});
  expect_header_rejected({{"w", tensor_entry("f32", {1}, 0, 4)}}, 4, {"unknown dtype 'f32'"});
  json entry = tensor_entry("F32", {1}, 0, 4);
  entry["dtype"] = 4;
  expect_header_rejected({{"w", entry}}, 4, {"tensor 'w': 'dtype' must be a string, got an integer 4"});
}

TEST_F(SafetensorsFileTest, RejectsBadShapeEntries) {
  const auto with_shape = [](json shape) {
    json e = tensor_entry("F32", {}, 0, 4);
    e["shape"] = std::move(shape);
    return json{{"w", e}};
  };
  expect_header_rejected(with_shape({-1, 2}), 4, {"tensor 'w': shape entries must be non-negative integers, got an integer -1"});
  expect_header_rejected(with_shape({2.5}), 4, {"non-negative integers, got a number 2.5"});
  expect_header_rejected(with_shape({"2"}), 4, {"non-negative integers, got a string \"2\""});
  expect_header_rejected(with_shape({nullptr}), 4, {"non-negative integers, got null"});
  expect_header_rejected(with_shape("2"), 4, {"tensor 'w': 'shape' must be an array, got a string \"2\""});
  expect_header_rejected(with_shape({1, 1, 1, 1, 1, 1, 1, 1, 1}), 4, {"shape has 9 dimensions (at most 8)"});
}

TEST_F(SafetensorsFileTest, RejectsShapesWhoseSizeOverflows) {
  const auto with_shape = [](json shape) {
    json e = tensor_entry("F32", {}, 0, 4);
    e["shape"] = std::move(shape);
    return json{{"w", e}};
  };
  expect_header_rejected(with_shape({uint64_t{1} << 41}), 4, {"tensor 'w': shape [2199023255552] is too large"});
  expect_header_rejected(with_shape({uint64_t{1} << 32, uint64_t{1} << 32}), 4, {"is too large"});
  expect_header_rejected(with_shape({~uint64_t{0}}), 4, {"is too large"});
  // 2^62 elements would wrap to 0 bytes in 64-bit arithmetic if products were not checked.
  expect_header_rejected(with_shape({uint64_t{1} << 31, uint64_t{1} << 31, 4}), 0, {"is too large"});
}

TEST_F(SafetensorsFileTest, RejectsMalformedDataOffsets) {
  const auto with_offsets = [](json offsets) {
    json e = tensor_entry("F32", {1}, 0, 4);
    e["data_offsets"] = std::move(offsets);
    return json{{"w", e}};
  };
  const std::string what = "'data_offsets' must be two non-negative integers [begin, end]";
  expect_header_rejected(with_offsets({0}), 4, {"tensor 'w': " + what, "got an array [0]"});
  expect_header_rejected(with_offsets({0, 4, 8}), 4, {what});
  expect_header_rejected(with_offsets({-4, 0}), 4, {what});
  expect_header_rejected(with_offsets({"0", "4"}), 4, {what});
  expect_header_rejected(with_offsets({0.0, 4.0}), 4, {what});
  expect_header_rejected(with_offsets("0-4"), 4, {what});
}

TEST_F(SafetensorsFileTest, RejectsOffsetsOutsideTheFile) {
  expect_header_rejected({{"w", tensor_entry("F32", {250}, 0, 1000)}}, 16,
                         {"tensor 'w': data_offsets [0, 1000] extend past the 16 bytes of tensor data"});
  expect_header_rejected({{"w", tensor_entry("F32", {1}, ~uint64_t{0} - 3, ~uint64_t{0})}}, 16, {"extend past the 16 bytes"});
}

TEST_F(SafetensorsFileTest, RejectsOffsetsThatEndBeforeTheyBegin) {
  expect_header_rejected({{"w", tensor_entry("F32", {1}, 8, 4)}}, 16, {"tensor 'w': data_offsets [8, 4] end before they begin"});
}

TEST_F(SafetensorsFileTest, RejectsByteRangesThatDisagreeWithShapeAndDtype) {
  expect_header_rejected({{"w", tensor_entry("F32", {2, 2}, 0, 12)}}, 12,
                         {"tensor 'w': shape [2, 2] of F32 needs 16 bytes but data_offsets [0, 12] hold 12"});
  expect_header_rejected({{"w", tensor_entry("BF16", {3}, 0, 12)}}, 12, {"shape [3] of BF16 needs 6 bytes"});
}

TEST_F(SafetensorsFileTest, RejectsOverlappingTensors) {
  expect_header_rejected({{"a", tensor_entry("F32", {4}, 0, 16)}, {"b", tensor_entry("F32", {4}, 8, 24)}}, 24,
                         {"tensor 'b' (bytes 8..24) overlaps tensor 'a'"});
  expect_header_rejected({{"a", tensor_entry("F32", {4}, 0, 16)}, {"b", tensor_entry("F32", {4}, 0, 16)}}, 16,
                         {"overlaps tensor 'a'"});
  // An empty tensor inside another one.
  expect_header_rejected({{"a", tensor_entry("F32", {4}, 0, 16)}, {"e", tensor_entry("F32", {0}, 8, 8)}}, 16,
                         {"tensor 'e' (bytes 8..8) overlaps tensor 'a'"});
}

TEST_F(SafetensorsFileTest, RejectsGapsBetweenTensors) {
  expect_header_rejected({{"a", tensor_entry("F32", {2}, 0, 8)}, {"b", tensor_entry("F32", {2}, 16, 24)}}, 24,
                         {"8 unindexed bytes between tensor 'a' and tensor 'b'"});
  expect_header_rejected({{"a", tensor_entry("F32", {2}, 4, 12)}}, 12,
                         {"4 unindexed bytes between the start of the data and tensor 'a'"});
}

TEST_F(SafetensorsFileTest, RejectsTrailingBytes) {
  expect_header_rejected({{"a", tensor_entry("F32", {2}, 0, 8)}}, 12,
                         {"4 bytes after the last tensor are not described by the header"});
  expect_rejected(safetensors_bytes("{}", 3), {"3 bytes after the last tensor"});
}

TEST_F(SafetensorsFileTest, RejectsDataCutShort) {
  SafetensorsWriter w;
  w.add("a", {4}, std::vector<float>{1, 2, 3, 4});
  w.add("b", {4}, std::vector<float>{5, 6, 7, 8});
  const std::string bytes = w.serialize();
  expect_rejected(bytes.substr(0, bytes.size() - 4), {"tensor 'b': data_offsets [16, 32] extend past the 28 bytes"});
}

TEST_F(SafetensorsFileTest, RejectsBadMetadata) {
  expect_header_rejected({{"__metadata__", {{"format", 1}}}}, 0, {"'__metadata__.format' must be a string, got an integer 1"});
  expect_header_rejected({{"__metadata__", {1, 2}}}, 0, {"'__metadata__' must be an object of strings"});
}

TEST_F(SafetensorsFileTest, MissingFileIsAnIoError) {
  GENARM_EXPECT_ERROR(SafetensorsFile::open(dir_ / "nope.safetensors"), ErrorCategory::kIo,
                      (dir_ / "nope.safetensors").string(), "cannot open");
}

// Every prefix of a valid file, and every single-byte corruption of its header, is either accepted
// or a genarm::Error: never a crash, never another exception type (run under ASan/UBSan too).
TEST(Safetensors, TruncatedOrCorruptedFilesNeverCrash) {
  SafetensorsWriter w;
  w.add("layer.weight", {3, 5}, std::vector<float>(15, 0.5f), DType::kBF16);
  w.add("layer.bias", {5}, std::vector<float>(5, -1.0f));
  w.set_metadata("format", "pt");
  const std::string valid = w.serialize();
  const auto check = [](const std::string& bytes, const std::string& what) {
    try {
      (void)parse_safetensors(std::as_bytes(std::span(bytes.data(), bytes.size())), "fuzz");
    } catch (const Error& e) {
      EXPECT_EQ(e.category(), ErrorCategory::kFormat) << what << ": " << e.what();
      EXPECT_NE(std::string(e.what()).find("fuzz"), std::string::npos) << what << ": " << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << what << ": not a genarm::Error: " << e.what();
    }
  };
  for (size_t n = 0; n < valid.size(); ++n) check(valid.substr(0, n), "prefix of " + std::to_string(n) + " bytes");
  uint64_t header_end = 0;
  for (int i = 7; i >= 0; --i) header_end = (header_end << 8) | static_cast<unsigned char>(valid[static_cast<size_t>(i)]);
  header_end += 8;
  ASSERT_LT(header_end, valid.size());
  const char replacements[] = {'\0', '"', '{', '}', '[', ']', ',', ':', '-', '9', 'e', '.', ' ', '\xff', '\x80'};
  for (size_t i = 0; i < header_end; ++i) {
    for (char c : replacements) {
      std::string bytes = valid;
      bytes[i] = c;
      check(bytes, "byte " + std::to_string(i) + " set to " + std::to_string(static_cast<int>(c)));
    }
  }
}

}  // namespace
}  // namespace genarm::io
