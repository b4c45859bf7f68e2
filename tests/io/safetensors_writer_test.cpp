#include "genarm/io/safetensors_writer.hpp"

#include <cmath>
#include <cstring>
#include <limits>

#include "genarm/io/safetensors.hpp"
#include "io_test_helpers.hpp"

namespace genarm::io {
namespace {

using genarm::testing::TempDir;
using nlohmann::json;

uint64_t length_field(const std::string& bytes) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[static_cast<size_t>(i)]);
  return n;
}

std::vector<uint16_t> halves_of(const TensorView& t) {
  std::vector<uint16_t> out(t.bytes.size() / 2);
  std::memcpy(out.data(), t.bytes.data(), t.bytes.size());
  return out;
}

TEST(SafetensorsWriter, LaysOutHeaderAndDataAsTheFormatSays) {
  SafetensorsWriter w;
  w.add("zeta", {2}, std::vector<float>{1, 2});
  w.add("alpha", {1, 3}, std::vector<float>{3, 4, 5}, DType::kBF16);
  w.set_metadata("format", "pt");
  const std::string bytes = w.serialize();
  const uint64_t n = length_field(bytes);
  ASSERT_LE(8 + n, bytes.size());
  EXPECT_EQ(n % 8, 0u) << "header padded to a multiple of 8 bytes";
  const std::string header_text = bytes.substr(8, n);
  EXPECT_EQ(header_text.find_last_not_of(' ') + 1, header_text.find_last_of('}') + 1) << "padding is spaces";
  const json header = json::parse(header_text);
  EXPECT_EQ(header["__metadata__"], (json{{"format", "pt"}}));
  // Sorted by name: alpha (3 x BF16 = 6 bytes) first, then zeta (2 x F32 = 8 bytes).
  EXPECT_EQ(header["alpha"], (json{{"dtype", "BF16"}, {"shape", {1, 3}}, {"data_offsets", {0, 6}}}));
  EXPECT_EQ(header["zeta"], (json{{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {6, 14}}}));
  EXPECT_EQ(bytes.size(), 8 + n + 14) << "no trailing bytes";
  float zeta[2];
  std::memcpy(zeta, bytes.data() + 8 + n + 6, 8);
  EXPECT_EQ(zeta[0], 1.0f);
  EXPECT_EQ(zeta[1], 2.0f);
}

TEST(SafetensorsWriter, EmptyWriterWritesAValidFile) {
  const std::string bytes = SafetensorsWriter().serialize();
  EXPECT_EQ(length_field(bytes), 8u);
  EXPECT_EQ(bytes.substr(8), "{}      ");
  const auto parsed = parse_safetensors(std::as_bytes(std::span(bytes.data(), bytes.size())), "empty");
  EXPECT_TRUE(parsed.tensors.empty());
  EXPECT_TRUE(parsed.metadata.empty());
}

TEST(SafetensorsWriter, StoresHalfPrecisionBitPatterns) {
  SafetensorsWriter w;
  // 1 + 2^-8 is halfway between two BF16 values: ties to even (down); 1 + 3 * 2^-8 rounds up.
  const std::vector<float> values = {1.0f, -2.5f, 1.0f + std::ldexp(1.0f, -8), 1.0f + 3 * std::ldexp(1.0f, -8), 65504.0f,
                                     1e6f, std::ldexp(1.0f, -24), 0.0f};
  w.add("bf16", {8}, values, DType::kBF16);
  w.add("f16", {8}, values, DType::kF16);
  TempDir dir("writer");
  w.write(dir / "h.safetensors");
  const auto f = SafetensorsFile::open(dir / "h.safetensors");
  EXPECT_EQ(halves_of(*f.find("bf16")),
            (std::vector<uint16_t>{0x3f80, 0xc020, 0x3f80, 0x3f82, 0x4780, 0x4974, 0x3380, 0x0000}));
  // F16: 1 + 2^-8 and 1 + 3 * 2^-8 are exact; 1e6 overflows to +inf; 2^-24 is the smallest subnormal.
  EXPECT_EQ(halves_of(*f.find("f16")),
            (std::vector<uint16_t>{0x3c00, 0xc100, 0x3c04, 0x3c0c, 0x7bff, 0x7c00, 0x0001, 0x0000}));
}

TEST(SafetensorsWriter, ReAddingANameReplacesTheTensor) {
  SafetensorsWriter w;
  w.add("x", {4}, std::vector<float>{1, 2, 3, 4});
  w.add("x", {2}, std::vector<float>{7, 8}, DType::kF16);
  TempDir dir("writer");
  w.write(dir / "x.safetensors");
  const auto f = SafetensorsFile::open(dir / "x.safetensors");
  ASSERT_EQ(f.tensors().size(), 1u);
  EXPECT_EQ(f.tensors()[0].dtype, DType::kF16);
  EXPECT_EQ(f.tensors()[0].shape, (std::vector<int64_t>{2}));
}

TEST(SafetensorsWriter, KeepsNonFiniteValues) {
  SafetensorsWriter w;
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> values = {inf, -inf, std::numeric_limits<float>::quiet_NaN()};
  w.add("f32", {3}, values);
  w.add("bf16", {3}, values, DType::kBF16);
  w.add("f16", {3}, values, DType::kF16);
  TempDir dir("writer");
  w.write(dir / "nf.safetensors");
  const auto f = SafetensorsFile::open(dir / "nf.safetensors");
  EXPECT_EQ(halves_of(*f.find("bf16"))[0], 0x7f80);
  EXPECT_EQ(halves_of(*f.find("bf16"))[1], 0xff80);
  EXPECT_TRUE(std::isnan(bf16_to_float(halves_of(*f.find("bf16"))[2])));
  EXPECT_EQ(halves_of(*f.find("f16"))[0], 0x7c00);
  EXPECT_EQ(halves_of(*f.find("f16"))[1], 0xfc00);
  EXPECT_TRUE(std::isnan(f16_to_float(halves_of(*f.find("f16"))[2])));
}

TEST(SafetensorsWriter, RejectsValueCountThatDisagreesWithShape) {
  SafetensorsWriter w;
  GENARM_EXPECT_ERROR(w.add("w", {2, 3}, std::vector<float>(5)), ErrorCategory::kInvalidArgument,
                      "tensor 'w' has 5 values for a shape of 6 elements");
}

TEST(SafetensorsWriter, RejectsNonFloatStorage) {
  SafetensorsWriter w;
  GENARM_EXPECT_ERROR(w.add("w", {1}, std::vector<float>{1}, DType::kI8), ErrorCategory::kUnsupported, "cannot store I8");
  GENARM_EXPECT_ERROR(w.add("w", {1}, std::vector<float>{1}, DType::kF64), ErrorCategory::kUnsupported, "cannot store F64");
}

TEST(SafetensorsWriter, UnwritablePathIsAnIoError) {
  TempDir dir("writer");
  const auto path = dir / "no_such_dir" / "w.safetensors";
  GENARM_EXPECT_ERROR(SafetensorsWriter().write(path), ErrorCategory::kIo, path.string(), "cannot open for writing");
}

TEST(SafetensorsWriter, OverwritesAnExistingFile) {
  TempDir dir("writer");
  genarm::testing::write_file(dir / "w.safetensors", std::string(10000, 'x'));
  SafetensorsWriter w;
  w.add("a", {1}, std::vector<float>{1});
  w.write(dir / "w.safetensors");
  EXPECT_EQ(SafetensorsFile::open(dir / "w.safetensors").tensors().size(), 1u);
}

}  // namespace
}  // namespace genarm::io
