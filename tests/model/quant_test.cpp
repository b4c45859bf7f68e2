#include "genarm/model/detail/quant.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace genarm::model::detail {
namespace {

// ---- A literal transcription of ggml's reference code (ggml/src/ggml-impl.h, ggml-quants.c) ----
namespace ggml {

float fp32_from_bits(uint32_t w) { return std::bit_cast<float>(w); }
uint32_t fp32_to_bits(float f) { return std::bit_cast<uint32_t>(f); }

// ggml_compute_fp32_to_fp16 (GGML_FP32_TO_FP16 in ggml-quants.c).
uint16_t fp32_to_fp16(float f) {
  const float scale_to_inf = 0x1.0p+112f;
  const float scale_to_zero = 0x1.0p-110f;
  float base = (std::fabs(f) * scale_to_inf) * scale_to_zero;
  const uint32_t w = fp32_to_bits(f);
  const uint32_t shl1_w = w + w;
  const uint32_t sign = w & UINT32_C(0x80000000);
  uint32_t bias = shl1_w & UINT32_C(0xFF000000);
  if (bias < UINT32_C(0x71000000)) bias = UINT32_C(0x71000000);
  base = fp32_from_bits((bias >> 1) + UINT32_C(0x07800000)) + base;
  const uint32_t bits = fp32_to_bits(base);
  const uint32_t exp_bits = (bits >> 13) & UINT32_C(0x00007C00);
  const uint32_t mantissa_bits = bits & UINT32_C(0x00000FFF);
  const uint32_t nonsign = exp_bits + mantissa_bits;
  return static_cast<uint16_t>((sign >> 16) | (shl1_w > UINT32_C(0xFF000000) ? UINT16_C(0x7E00) : nonsign));
}

// ggml_compute_fp16_to_fp32.
float fp16_to_fp32(uint16_t h) {
  const uint32_t w = static_cast<uint32_t>(h) << 16;
  const uint32_t sign = w & UINT32_C(0x80000000);
  const uint32_t two_w = w + w;
  const uint32_t exp_offset = UINT32_C(0xE0) << 23;
  const float exp_scale = 0x1.0p-112f;
  const float normalized_value = fp32_from_bits((two_w >> 4) + exp_offset) * exp_scale;
  const uint32_t magic_mask = UINT32_C(126) << 23;
  const float magic_bias = 0.5f;
  const float denormalized_value = fp32_from_bits((two_w >> 17) | magic_mask) - magic_bias;
  const uint32_t denormalized_cutoff = UINT32_C(1) << 27;
  const uint32_t result =
      sign | (two_w < denormalized_cutoff ? fp32_to_bits(denormalized_value) : fp32_to_bits(normalized_value));
  return fp32_from_bits(result);
}

#define GGML_MAX(a, b) ((a) > (b) ? (a) : (b))
#define GGML_MIN(a, b) ((a) < (b) ? (a) : (b))

// quantize_row_q8_0_ref (k a multiple of 32).
void quantize_row_q8_0_ref(const float* x, BlockQ8_0* y, int64_t k) {
  const int nb = static_cast<int>(k / 32);
  for (int i = 0; i < nb; i++) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) {
      const float v = x[i * 32 + j];
      amax = GGML_MAX(amax, std::fabs(v));
    }
    const float d = amax / ((1 << 7) - 1);
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    for (int j = 0; j < 32; ++j) {
      const float x0 = x[i * 32 + j] * id;
      y[i].qs[j] = static_cast<int8_t>(std::roundf(x0));
    }
  }
}

// quantize_row_q4_0_ref (k a multiple of 32). C rounds x[...]*id to float before adding 8.5f
// (ggml builds its C with contraction off); opaque() keeps GCC's C++ from fusing the two.
void quantize_row_q4_0_ref(const float* x, BlockQ4_0* y, int64_t k) {
  static const int qk = 32;
  const int nb = static_cast<int>(k / qk);
  for (int i = 0; i < nb; i++) {
    float amax = 0.0f;
    float max = 0.0f;
    for (int j = 0; j < qk; j++) {
      const float v = x[i * qk + j];
      if (amax < std::fabs(v)) {
        amax = std::fabs(v);
        max = v;
      }
    }
    const float d = max / -8;
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    for (int j = 0; j < qk / 2; ++j) {
      const float x0 = quant_ref::opaque(x[i * qk + 0 + j] * id);
      const float x1 = quant_ref::opaque(x[i * qk + qk / 2 + j] * id);
      const uint8_t xi0 = static_cast<uint8_t>(GGML_MIN(15, static_cast<int8_t>(x0 + 8.5f)));
      const uint8_t xi1 = static_cast<uint8_t>(GGML_MIN(15, static_cast<int8_t>(x1 + 8.5f)));
      y[i].qs[j] = xi0;
      y[i].qs[j] |= static_cast<uint8_t>(xi1 << 4);
    }
  }
}

void dequantize_row_q8_0(const BlockQ8_0* x, float* y, int64_t k) {
  const int nb = static_cast<int>(k / 32);
  for (int i = 0; i < nb; i++) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < 32; ++j) y[i * 32 + j] = x[i].qs[j] * d;
  }
}

void dequantize_row_q4_0(const BlockQ4_0* x, float* y, int64_t k) {
  const int nb = static_cast<int>(k / 32);
  for (int i = 0; i < nb; i++) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < 16; ++j) {
      const int x0 = (x[i].qs[j] & 0x0F) - 8;
      const int x1 = (x[i].qs[j] >> 4) - 8;
      y[i * 32 + j + 0] = x0 * d;
      y[i * 32 + j + 16] = x1 * d;
    }
  }
}

#undef GGML_MAX
#undef GGML_MIN

}  // namespace ggml

// ---- helpers ----

template <typename Block>
bool same_bytes(const std::vector<Block>& a, const std::vector<Block>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(Block)) == 0;
}

std::string describe(const BlockQ8_0& b) {
  std::string s = "d=" + std::to_string(b.d) + " qs=";
  for (int8_t q : b.qs) s += std::to_string(q) + " ";
  return s;
}
std::string describe(const BlockQ4_0& b) {
  std::string s = "d=" + std::to_string(b.d) + " qs=";
  for (uint8_t q : b.qs) s += std::to_string(q) + " ";
  return s;
}

template <typename Block>
::testing::AssertionResult blocks_equal(const std::vector<Block>& actual, const std::vector<Block>& expected) {
  if (actual.size() != expected.size()) return ::testing::AssertionFailure() << "block counts differ";
  for (size_t i = 0; i < actual.size(); ++i) {
    if (std::memcmp(&actual[i], &expected[i], sizeof(Block)) != 0) {
      return ::testing::AssertionFailure()
             << "block " << i << ": got " << describe(actual[i]) << "\nexpected " << describe(expected[i]);
    }
  }
  return ::testing::AssertionSuccess();
}

std::vector<float> random_values(size_t n, float scale, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(n);
  for (auto& e : v) e = normal(gen);
  return v;
}

// Blocks of 32 that exercise the reference's corners (each a defined case for ggml: finite, and 1/d
// does not overflow).
std::vector<std::vector<float>> edge_blocks() {
  std::vector<std::vector<float>> blocks;
  auto block = [&](auto fill) {
    std::vector<float> b(32, 0.0f);
    for (int j = 0; j < 32; ++j) b[j] = fill(j);
    blocks.push_back(b);
  };
  block([](int) { return 0.0f; });                                          // all zeros
  block([](int j) { return j % 2 ? -0.0f : 0.0f; });                        // signed zeros
  block([](int j) { return j == 7 ? 1e30f : 1.0f; });                       // one huge value (d overflows fp16)
  block([](int j) { return j == 3 ? 3.0e38f : -1e-3f; });                   // near FLT_MAX
  block([](int j) { return j == 0 ? -5.0f : 0.25f * j; });                  // negative max (Q4: d > 0)
  block([](int j) { return j == 31 ? -8.0f : (j == 5 ? 8.0f : 1.0f); });    // |max| tie: first one wins in Q4
  block([](int j) { return static_cast<float>(j) - 15.5f; });               // halves
  block([](int j) { return j == 0 ? 127.0f : j - 0.5f; });                  // d = 1: exact ties at .5 (roundf: away)
  block([](int j) { return j == 0 ? -8.0f : j * 0.5f - 8.0f; });            // Q4 with d = 1: ties at .5
  block([](int j) { return j == 9 ? 1.0f : 1e-40f * (j - 16); });           // denormals next to a normal max
  block([](int j) { return 1e-36f * (j - 16); });                           // all tiny: fp16 d underflows to 0
  block([](int j) { return 6e-5f * (j - 16); });                            // d in fp16's subnormal range
  block([](int j) { return 65504.0f * 127.0f * (j == 4 ? 1.0f : 0.5f); });  // d at fp16 max
  block([](int j) { return (j % 3 == 0 ? -1.0f : 1.0f) * 1e7f; });          // d = inf in fp16 (both formats)
  return blocks;
}

// ---- formats ----

TEST(QuantFormat, BlocksHaveGgmlLayout) {
  EXPECT_EQ(sizeof(BlockQ8_0), 34u);
  EXPECT_EQ(sizeof(BlockQ4_0), 18u);
  EXPECT_EQ(offsetof(BlockQ8_0, qs), 2u);
  EXPECT_EQ(offsetof(BlockQ4_0, qs), 2u);
  EXPECT_EQ(quant_blocks(1), 1);
  EXPECT_EQ(quant_blocks(32), 1);
  EXPECT_EQ(quant_blocks(33), 2);
}

TEST(QuantFormat, ScaleRoundingIsGgmlFp16) {
  // float_to_f16 (used for d) against ggml's conversion; every float was compared once offline,
  // here edge cases and a sample of bit patterns.
  std::vector<float> values = {0.0f,
                               -0.0f,
                               1.0f,
                               65504.0f,
                               65519.99f,
                               65520.0f,
                               1e30f,
                               5.96e-8f,
                               2.98e-8f,
                               2.99e-8f,
                               6.1e-5f,
                               1e-40f,
                               std::numeric_limits<float>::infinity()};
  std::mt19937 gen(3);
  for (int i = 0; i < 200000; ++i) {
    const float f = std::bit_cast<float>(static_cast<uint32_t>(gen()));
    if (!std::isnan(f)) values.push_back(f);
  }
  for (float f : values) {
    ASSERT_EQ(float_to_f16(f), ggml::fp32_to_fp16(f)) << std::hexfloat << f;
  }
  for (uint32_t h = 0; h < 65536; ++h) {
    const float a = f16_to_float(static_cast<uint16_t>(h)), b = ggml::fp16_to_fp32(static_cast<uint16_t>(h));
    if (std::isnan(a)) {
      EXPECT_TRUE(std::isnan(b)) << h;
    } else {
      ASSERT_EQ(std::bit_cast<uint32_t>(a), std::bit_cast<uint32_t>(b)) << h;
    }
  }
}

// ---- quantisation against ggml ----

// Runs every quantiser we have (portable and native) on `x` and compares with ggml's reference.
void expect_matches_reference(const std::vector<float>& x, const std::string& what) {
  SCOPED_TRACE(what);
  ASSERT_EQ(x.size() % 32, 0u);
  const int64_t cols = static_cast<int64_t>(x.size());
  std::vector<BlockQ8_0> ref8(static_cast<size_t>(cols / 32)), got8(ref8.size()), native8(ref8.size());
  ggml::quantize_row_q8_0_ref(x.data(), ref8.data(), cols);
  quant_ref::quantize_row_q8_0(x.data(), cols, got8.data());
  quantize_row_q8_0(x.data(), cols, native8.data());
  EXPECT_TRUE(blocks_equal(got8, ref8));
  EXPECT_TRUE(blocks_equal(native8, ref8));
#if defined(GENARM_QUANT_AVX2)
  std::vector<BlockQ8_0> avx8(ref8.size());
  quant_avx2::quantize_row_q8_0(x.data(), cols, avx8.data());
  EXPECT_TRUE(blocks_equal(avx8, ref8));
#endif
  std::vector<BlockQ4_0> ref4(ref8.size()), got4(ref8.size());
  ggml::quantize_row_q4_0_ref(x.data(), ref4.data(), cols);
  quantize_row_q4_0(x.data(), cols, got4.data());
  EXPECT_TRUE(blocks_equal(got4, ref4));

  // Dequantisation matches ggml's too.
  std::vector<float> ref(static_cast<size_t>(cols)), got(static_cast<size_t>(cols));
  ggml::dequantize_row_q8_0(ref8.data(), ref.data(), cols);
  dequantize_row_q8_0(ref8.data(), cols, got.data());
  EXPECT_EQ(std::memcmp(ref.data(), got.data(), ref.size() * sizeof(float)), 0);
  ggml::dequantize_row_q4_0(ref4.data(), ref.data(), cols);
  dequantize_row_q4_0(ref4.data(), cols, got.data());
  EXPECT_EQ(std::memcmp(ref.data(), got.data(), ref.size() * sizeof(float)), 0);
}

TEST(QuantReference, RandomRowsMatchGgmlBitForBit) {
  uint64_t seed = 11;
  for (float scale : {1e-30f, 1e-6f, 0.02f, 1.0f, 300.0f, 1e5f}) {
    expect_matches_reference(random_values(32 * 64, scale, seed++), "normal, scale " + std::to_string(scale));
  }
  // Uniform values, and values on a grid that hits exact rounding ties after scaling.
  std::mt19937 gen(5);
  std::uniform_real_distribution<float> uniform(-4.0f, 4.0f);
  std::vector<float> u(32 * 256), grid(32 * 256);
  for (auto& e : u) e = uniform(gen);
  for (size_t i = 0; i < grid.size(); ++i) grid[i] = static_cast<float>(static_cast<int>(gen() % 255) - 127) * 0.5f;
  expect_matches_reference(u, "uniform");
  expect_matches_reference(grid, "half-integer grid");
}

TEST(QuantReference, EdgeBlocksMatchGgmlBitForBit) {
  int i = 0;
  for (const auto& b : edge_blocks()) expect_matches_reference(b, "edge block " + std::to_string(i++));
}

TEST(QuantReference, RoundsHalfAwayFromZeroLikeRoundf) {
  // d = 1 exactly (amax 127): x = 2.5 -> 3, -2.5 -> -3, 3.5 -> 4 (round half to even would give 2, -2, 4).
  std::vector<float> x(32, 0.0f);
  x[0] = 127.0f;
  x[1] = 2.5f;
  x[2] = -2.5f;
  x[3] = 3.5f;
  x[4] = 0.5f;
  x[5] = -0.49999997f;
  std::vector<BlockQ8_0> q(1);
  quantize_row_q8_0(x.data(), 32, q.data());
  EXPECT_EQ(q[0].d, float_to_f16(1.0f));
  EXPECT_EQ(q[0].qs[1], 3);
  EXPECT_EQ(q[0].qs[2], -3);
  EXPECT_EQ(q[0].qs[3], 4);
  EXPECT_EQ(q[0].qs[4], 1);
  EXPECT_EQ(q[0].qs[5], 0);
}

TEST(QuantReference, NonFiniteBlocksArePoisoned) {
  // ggml converts NaN/inf to an integer there (undefined); we store d = NaN and zero values, so
  // products with the block are NaN, and the other blocks of the row are unaffected.
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    std::vector<float> x = random_values(64, 1.0f, 2);
    x[40] = bad;
    std::vector<BlockQ8_0> q8(2), q8ref(2), q8native(2);
    quant_ref::quantize_row_q8_0(x.data(), 64, q8.data());
    quantize_row_q8_0(x.data(), 64, q8native.data());
    EXPECT_TRUE(blocks_equal(q8native, q8));
    ggml::quantize_row_q8_0_ref(x.data(), q8ref.data(), 32);  // the finite first block only
    EXPECT_EQ(std::memcmp(&q8[0], &q8ref[0], sizeof(BlockQ8_0)), 0);
    EXPECT_EQ(q8[1].d, kQuantNaNScale);
    for (int8_t v : q8[1].qs) EXPECT_EQ(v, 0);
    std::vector<BlockQ4_0> q4(2);
    quantize_row_q4_0(x.data(), 64, q4.data());
    EXPECT_EQ(q4[1].d, kQuantNaNScale);
    for (uint8_t v : q4[1].qs) EXPECT_EQ(v, 0x88);
    std::vector<float> back(64);
    dequantize_row_q8_0(q8.data(), 64, back.data());
    EXPECT_FALSE(std::isnan(back[0]));
    EXPECT_TRUE(std::isnan(back[40]));

    // A product with the poisoned activation block is NaN.
    std::vector<BlockQ8_0> w(2);
    quantize_row_q8_0(random_values(64, 1.0f, 3).data(), 64, w.data());
    float y = 0.0f;
    const std::vector<uint8_t> packed = pack_matrix<QuantKind::kQ8_0>(w.data(), 1, 64);
    q8_0_matmul({packed.data(), 1, 64}, q8.data(), 1, &y, 1, 0, 1);
    EXPECT_TRUE(std::isnan(y));
  }
}

TEST(QuantReference, BlocksTooSmallForTheInverseScaleAreZero) {
  // amax = 1e-40: d = amax / 127 is so small that 1 / d overflows float (ggml then converts inf or
  // NaN to int8: undefined). Policy: every value 0; d rounds to fp16 zero as in ggml.
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = 1e-40f * static_cast<float>(j - 16) / 16.0f;
  std::vector<BlockQ8_0> q8(1), q8native(1);
  quant_ref::quantize_row_q8_0(x.data(), 32, q8.data());
  quantize_row_q8_0(x.data(), 32, q8native.data());
  EXPECT_TRUE(blocks_equal(q8native, q8));
  EXPECT_EQ(q8[0].d, 0);
  for (int8_t v : q8[0].qs) EXPECT_EQ(v, 0);
  std::vector<BlockQ4_0> q4(1);
  quantize_row_q4_0(x.data(), 32, q4.data());
  EXPECT_EQ(q4[0].d & 0x7fff, 0);
  for (uint8_t v : q4[0].qs) EXPECT_EQ(v, 0x88);
}

TEST(QuantPadding, ShortLastBlockIsQuantisedAsZeroPadded) {
  for (int64_t cols : {1, 5, 31, 33, 100, 777}) {
    SCOPED_TRACE(cols);
    const std::vector<float> x = random_values(static_cast<size_t>(cols), 1.0f, static_cast<uint64_t>(cols));
    const int64_t blocks = quant_blocks(cols);
    std::vector<float> padded(static_cast<size_t>(blocks * 32), 0.0f);
    std::copy(x.begin(), x.end(), padded.begin());
    std::vector<BlockQ8_0> q8(static_cast<size_t>(blocks)), ref8(q8.size());
    std::vector<BlockQ4_0> q4(q8.size()), ref4(q8.size());
    quantize_row_q8_0(x.data(), cols, q8.data());
    quantize_row_q4_0(x.data(), cols, q4.data());
    ggml::quantize_row_q8_0_ref(padded.data(), ref8.data(), blocks * 32);
    ggml::quantize_row_q4_0_ref(padded.data(), ref4.data(), blocks * 32);
    EXPECT_TRUE(blocks_equal(q8, ref8));
    EXPECT_TRUE(blocks_equal(q4, ref4));
    // The padding holds value 0.
    for (int64_t c = cols; c < blocks * 32; ++c) {
      EXPECT_EQ(quant_value(q8.back(), c % 32), 0);
      EXPECT_EQ(quant_value(q4.back(), c % 32), 0);
    }
    // Dequantisation writes exactly cols values.
    std::vector<float> back(static_cast<size_t>(cols) + 1, -7.0f);
    dequantize_row_q8_0(q8.data(), cols, back.data());
    EXPECT_EQ(back[static_cast<size_t>(cols)], -7.0f);
  }
}

// ---- round trips ----

// Q8_0: q = round(x / d) with d = amax / 127, so |x - q d| <= d / 2; the stored d16 = fp16(d) adds
// |q| |d - d16| <= 127 |d - d16| (at most 127 * 2^-11 d = 0.062 d while d is an fp16 normal).
// Q4_0: q - 8 = floor(x / d + 0.5) clamped to 7, d = -max / 8: |x - (q - 8) d| <= |d| / 2, except
// for elements of the other sign than max with |x| > 7.5 |d| (the clamp), where it is <= |d|; the
// fp16 scale adds 8 |d - d16|. The float roundings of id = 1/d and x * id move x / d by at most
// 2 ulp of 127 (Q8_0) or of 8 (Q4_0): 2^-15 d and 2^-18 |d| cover them.
TEST(QuantRoundTrip, ErrorWithinFormatBound) {
  for (float scale : {1e-3f, 0.05f, 1.0f, 40.0f}) {
    SCOPED_TRACE(scale);
    const int64_t cols = 32 * 300;
    std::vector<float> x = random_values(static_cast<size_t>(cols), scale, 21);
    for (int64_t c = 0; c < cols; c += 97) x[static_cast<size_t>(c)] *= 8.0f;  // outliers
    std::vector<BlockQ8_0> q8(static_cast<size_t>(cols / 32));
    std::vector<BlockQ4_0> q4(q8.size());
    quantize_row_q8_0(x.data(), cols, q8.data());
    quantize_row_q4_0(x.data(), cols, q4.data());
    std::vector<float> b8(static_cast<size_t>(cols)), b4(static_cast<size_t>(cols));
    dequantize_row_q8_0(q8.data(), cols, b8.data());
    dequantize_row_q4_0(q4.data(), cols, b4.data());
    double worst8 = 0.0, worst4 = 0.0;
    for (int64_t b = 0; b < cols / 32; ++b) {
      float amax = 0.0f, max = 0.0f;
      for (int j = 0; j < 32; ++j) {
        const float v = x[static_cast<size_t>(b * 32 + j)];
        if (std::fabs(v) > amax) {
          amax = std::fabs(v);
          max = v;
        }
      }
      const double d8 = amax / 127.0, d8h = f16_to_float(q8[b].d);
      const double d4 = max / -8.0, d4h = f16_to_float(q4[b].d);
      for (int j = 0; j < 32; ++j) {
        const size_t i = static_cast<size_t>(b * 32 + j);
        const double e8 = std::fabs(x[i] - static_cast<double>(b8[i]));
        const double bound8 = 0.5 * d8 + 127.0 * std::fabs(d8 - d8h) + 0x1p-15 * d8;
        ASSERT_LE(e8, bound8) << "Q8_0 element " << i << " x=" << x[i];
        worst8 = std::max(worst8, e8 / d8);
        const double e4 = std::fabs(x[i] - static_cast<double>(b4[i]));
        const bool clamped = x[i] / d4 > 7.5;
        const double bound4 =
            (clamped ? 1.0 : 0.5) * std::fabs(d4) + 8.0 * std::fabs(d4 - d4h) + 0x1p-18 * std::fabs(d4);
        ASSERT_LE(e4, bound4) << "Q4_0 element " << i << " x=" << x[i];
        if (!clamped) worst4 = std::max(worst4, e4 / std::fabs(d4));
      }
    }
    std::printf("scale %g: max |x - x'| / d = %.4f (Q8_0), %.4f (Q4_0, unclamped)\n", scale, worst8, worst4);
  }
}

// ---- kernels ----

struct Problem {
  int64_t rows, cols, n, blocks;
  std::vector<float> w, x;  // rows x cols, n x cols
  std::vector<BlockQ8_0> w8, xq;  // row-major blocks as quantised
  std::vector<BlockQ4_0> w4;
  std::vector<uint8_t> packed8, packed4;  // the same, in panels
  QuantPanels<QuantKind::kQ8_0> panels8() const { return {packed8.data(), rows, cols}; }
  QuantPanels<QuantKind::kQ4_0> panels4() const { return {packed4.data(), rows, cols}; }
  void pack() {
    packed8 = pack_matrix<QuantKind::kQ8_0>(w8.data(), rows, cols);
    packed4 = pack_matrix<QuantKind::kQ4_0>(w4.data(), rows, cols);
  }
};

Problem make_problem(int64_t rows, int64_t cols, int64_t n, uint64_t seed) {
  Problem p{rows,
            cols,
            n,
            quant_blocks(cols),
            random_values(static_cast<size_t>(rows * cols), 0.05f, seed),
            random_values(static_cast<size_t>(n * cols), 2.0f, seed + 1),
            {},
            {},
            {}};
  p.w8.resize(static_cast<size_t>(rows * p.blocks));
  p.w4.resize(p.w8.size());
  p.xq.resize(static_cast<size_t>(n * p.blocks));
  for (int64_t r = 0; r < rows; ++r) {
    quantize_row_q8_0(p.w.data() + r * cols, cols, p.w8.data() + r * p.blocks);
    quantize_row_q4_0(p.w.data() + r * cols, cols, p.w4.data() + r * p.blocks);
  }
  quantize_rows_q8_0(p.x.data(), n, cols, cols, p.xq.data());
  p.pack();
  return p;
}

using Kernel8 = void (*)(const QuantPanels<QuantKind::kQ8_0>&, const BlockQ8_0*, int64_t, float*, int64_t, int64_t,
                         int64_t);
using Kernel4 = void (*)(const QuantPanels<QuantKind::kQ4_0>&, const BlockQ8_0*, int64_t, float*, int64_t, int64_t,
                         int64_t);

struct KernelPath {
  const char* name;
  Kernel8 q8;
  Kernel4 q4;
};

std::vector<KernelPath> kernel_paths() {
  std::vector<KernelPath> paths = {{"dispatch", q8_0_matmul, q4_0_matmul},
                                   {"portable", quant_scalar::matmul_panels<QuantKind::kQ8_0>,
                                    quant_scalar::matmul_panels<QuantKind::kQ4_0>}};
#if defined(GENARM_QUANT_AVX2)
  paths.push_back({"avx2", quant_avx2::matmul_panels<QuantKind::kQ8_0>, quant_avx2::matmul_panels<QuantKind::kQ4_0>});
#endif
#if defined(GENARM_QUANT_AVX512)
  paths.push_back(
      {"avx512", quant_avx512::matmul_panels<QuantKind::kQ8_0>, quant_avx512::matmul_panels<QuantKind::kQ4_0>});
#endif
  return paths;
}

// The kernel against the exact dot of the dequantised blocks (in double). The kernel's only error
// is float accumulation: each block adds s * p (s = d_w d_x and p exact) through one FMA into one
// accumulator; so |y - exact| <= blocks * 2^-24 * sum_b |s_b| * sum_j |w_bj x_bj| * 2 (safety
// factor 2).
// Against the float product of the original rows, the quantisation error adds, per element,
// |w| e_x + |x'| e_w with e_x, e_w the round-trip bounds above.
template <typename Block>
void expect_kernel_accurate(const Problem& p, const std::vector<Block>& wq, const std::vector<float>& y,
                            double w_bound_per_d, const std::string& what) {
  std::vector<double> wd(static_cast<size_t>(p.blocks * 32)), xd(wd.size());
  std::vector<float> tmp(wd.size());
  for (int64_t t = 0; t < p.n; ++t) {
    const BlockQ8_0* xb = p.xq.data() + t * p.blocks;
    dequantize_row_q8_0(xb, p.blocks * 32, tmp.data());
    for (size_t i = 0; i < tmp.size(); ++i) xd[i] = tmp[i];
    for (int64_t r = 0; r < p.rows; ++r) {
      const Block* wb = wq.data() + r * p.blocks;
      dequantize_row(wb, p.blocks * 32, tmp.data());
      for (size_t i = 0; i < tmp.size(); ++i) wd[i] = tmp[i];
      double exact = 0.0, magnitude = 0.0, float_exact = 0.0, quant_err = 0.0;
      for (int64_t c = 0; c < p.blocks * 32; ++c) {
        exact += wd[c] * xd[c];
        magnitude += std::fabs(wd[c] * xd[c]);
      }
      for (int64_t c = 0; c < p.cols; ++c) {
        const double wf = p.w[static_cast<size_t>(r * p.cols + c)], xf = p.x[static_cast<size_t>(t * p.cols + c)];
        float_exact += wf * xf;
        const double dx = f16_to_float(xb[c / 32].d), dw = std::fabs(f16_to_float(wb[c / 32].d));
        quant_err += std::fabs(wf) * 0.57 * dx + std::fabs(xd[c]) * w_bound_per_d * dw;
      }
      const double got = y[static_cast<size_t>(t * p.rows + r)];
      const double tol = static_cast<double>(p.blocks) * 0x1p-24 * magnitude * 2 + 1e-30;
      ASSERT_LE(std::fabs(got - exact), tol) << what << " row " << r << " act " << t << " exact " << exact;
      ASSERT_LE(std::fabs(got - float_exact), quant_err + tol) << what << " row " << r << " act " << t;
    }
  }
}

TEST(QuantKernel, MatchesDequantisedReferenceOnAwkwardSizes) {
  uint64_t seed = 100;
  for (int64_t cols : {1, 31, 32, 33, 100, 777, 4864}) {
    for (int64_t rows : {1, 3, 17}) {
      const Problem p = make_problem(rows, cols, 5, seed++);
      for (const KernelPath& path : kernel_paths()) {
        const std::string what =
            std::string(path.name) + " rows " + std::to_string(rows) + " cols " + std::to_string(cols);
        std::vector<float> y(static_cast<size_t>(p.n * rows), -1.0f);
        path.q8(p.panels8(), p.xq.data(), p.n, y.data(), rows, 0, rows);
        expect_kernel_accurate(p, p.w8, y, 0.57, "Q8_0 " + what);
        path.q4(p.panels4(), p.xq.data(), p.n, y.data(), rows, 0, rows);
        expect_kernel_accurate(p, p.w4, y, 1.01, "Q4_0 " + what);
      }
    }
  }
}

TEST(QuantKernel, PaddingDoesNotChangeTheProduct) {
  // cols = 45: the same rows zero-padded by hand to 64 give the same bits.
  const int64_t rows = 5, cols = 45, n = 3;
  const Problem p = make_problem(rows, cols, n, 7);
  Problem q = make_problem(rows, 64, n, 7);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < 64; ++c)
      q.w[static_cast<size_t>(r * 64 + c)] = c < cols ? p.w[static_cast<size_t>(r * cols + c)] : 0.0f;
    quantize_row_q8_0(q.w.data() + r * 64, 64, q.w8.data() + r * 2);
    quantize_row_q4_0(q.w.data() + r * 64, 64, q.w4.data() + r * 2);
  }
  q.pack();
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t c = 0; c < 64; ++c)
      q.x[static_cast<size_t>(t * 64 + c)] = c < cols ? p.x[static_cast<size_t>(t * cols + c)] : 0.0f;
  }
  quantize_rows_q8_0(q.x.data(), n, 64, 64, q.xq.data());
  EXPECT_TRUE(same_bytes(p.xq, q.xq));
  EXPECT_TRUE(same_bytes(p.w8, q.w8));
  EXPECT_TRUE(same_bytes(p.w4, q.w4));
  std::vector<float> a(static_cast<size_t>(n * rows)), b(a.size());
  q8_0_matmul(p.panels8(), p.xq.data(), n, a.data(), rows, 0, rows);
  q8_0_matmul(q.panels8(), q.xq.data(), n, b.data(), rows, 0, rows);
  EXPECT_EQ(a, b);
  q4_0_matmul(p.panels4(), p.xq.data(), n, a.data(), rows, 0, rows);
  q4_0_matmul(q.panels4(), q.xq.data(), n, b.data(), rows, 0, rows);
  EXPECT_EQ(a, b);
}

TEST(QuantKernel, Q8WeightsMayHoldMinus128) {
  // ggml's quantisers never write -128, but a Q8_0 file may: the kernel handles it exactly.
  const int64_t cols = 64;
  std::vector<BlockQ8_0> w(2);
  std::vector<float> x = random_values(cols, 1.0f, 9);
  std::vector<BlockQ8_0> xq(2);
  quantize_row_q8_0(x.data(), cols, xq.data());
  for (int b = 0; b < 2; ++b) {
    w[b].d = float_to_f16(0.5f);
    for (int j = 0; j < 32; ++j) w[b].qs[j] = static_cast<int8_t>(j % 2 ? -128 : 127 - j);
  }
  double exact = 0.0, magnitude = 0.0;
  for (int c = 0; c < cols; ++c) {
    const double term =
        0.5 * w[c / 32].qs[c % 32] * xq[c / 32].qs[c % 32] * static_cast<double>(f16_to_float(xq[c / 32].d));
    exact += term;
    magnitude += std::fabs(term);
  }
  const std::vector<uint8_t> packed = pack_matrix<QuantKind::kQ8_0>(w.data(), 1, cols);
  for (const KernelPath& path : kernel_paths()) {
    float y = 0.0f;
    path.q8({packed.data(), 1, cols}, xq.data(), 1, &y, 1, 0, 1);
    EXPECT_NEAR(y, exact, 1e-6 * magnitude) << path.name;
  }
}

// Every (row, activation) result has the same bits for n = 1 and in any batch, tile position or row
// range (threads split rows), and the portable and AVX2 paths agree bit for bit.
TEST(QuantKernel, BatchInvariantBitForBit) {
  const int64_t rows = 23, cols = 777;
  const int64_t kMaxN = 33;
  const Problem p = make_problem(rows, cols, kMaxN, 55);
  const int64_t ldy = rows + 3;
  for (const KernelPath& path : kernel_paths()) {
    for (int format = 0; format < 2; ++format) {
      auto run = [&](const BlockQ8_0* x, int64_t n, float* y, int64_t begin, int64_t end) {
        if (format == 0) {
          path.q8(p.panels8(), x, n, y, ldy, begin, end);
        } else {
          path.q4(p.panels4(), x, n, y, ldy, begin, end);
        }
      };
      // n = 1 results, activation row by activation row, all weight rows.
      std::vector<float> single(static_cast<size_t>(kMaxN * ldy), 0.0f);
      for (int64_t t = 0; t < kMaxN; ++t) run(p.xq.data() + t * p.blocks, 1, single.data() + t * ldy, 0, rows);
      const std::vector<std::vector<int64_t>> splits = {
          {0, rows}, {0, 1, rows}, {0, 7, 8, 16, rows}, {0, 11, 12, 13, rows}};
      for (int64_t n : {1, 2, 3, 4, 5, 7, 8, 16, 33}) {
        for (int64_t first : {int64_t{0}, int64_t{1}}) {  // batches starting at activation row 0 and 1: other tiles
          if (first + n > kMaxN) continue;
          for (const auto& split : splits) {
            std::vector<float> y(static_cast<size_t>(n * ldy), std::numeric_limits<float>::quiet_NaN());
            for (size_t s = 0; s + 1 < split.size(); ++s)
              run(p.xq.data() + first * p.blocks, n, y.data(), split[s], split[s + 1]);
            for (int64_t t = 0; t < n; ++t) {
              ASSERT_EQ(std::memcmp(y.data() + t * ldy, single.data() + (first + t) * ldy, sizeof(float) * rows), 0)
                  << path.name << (format == 0 ? " Q8_0" : " Q4_0") << " n " << n << " first " << first << " row " << t
                  << " split " << split.size();
            }
          }
        }
      }
      // Columns outside [0, rows) of y are not written.
      std::vector<float> y(static_cast<size_t>(2 * ldy), -3.0f);
      run(p.xq.data(), 2, y.data(), 0, rows);
      for (int64_t t = 0; t < 2; ++t) {
        for (int64_t c = rows; c < ldy; ++c) EXPECT_EQ(y[static_cast<size_t>(t * ldy + c)], -3.0f);
      }
    }
  }
}

TEST(QuantKernel, PortableAndNativePathsAgreeBitForBit) {
  for (int64_t cols : {1, 33, 777, 4864}) {
    const Problem p = make_problem(9, cols, 6, static_cast<uint64_t>(cols));
    std::vector<BlockQ8_0> portable(p.xq.size());
    quant_scalar::quantize_row_q8_0(p.x.data(), cols, portable.data());  // first activation row
    EXPECT_EQ(std::memcmp(portable.data(), p.xq.data(), sizeof(BlockQ8_0) * static_cast<size_t>(p.blocks)), 0);
    std::vector<float> a(static_cast<size_t>(p.n * p.rows)), b(a.size());
    quant_scalar::matmul_panels(p.panels8(), p.xq.data(), p.n, a.data(), p.rows, 0, p.rows);
    q8_0_matmul(p.panels8(), p.xq.data(), p.n, b.data(), p.rows, 0, p.rows);
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << "Q8_0 cols " << cols;
    quant_scalar::matmul_panels(p.panels4(), p.xq.data(), p.n, a.data(), p.rows, 0, p.rows);
    q4_0_matmul(p.panels4(), p.xq.data(), p.n, b.data(), p.rows, 0, p.rows);
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << "Q4_0 cols " << cols;
  }
#if defined(GENARM_QUANT_AVX512)
  std::printf("native path: AVX-512\n");
#elif defined(GENARM_QUANT_AVX2)
  std::printf("native path: AVX2\n");
#else
  std::printf("native path: portable\n");
#endif
}

TEST(QuantKernel, EmptyRangesWriteNothing) {
  const Problem p = make_problem(3, 64, 2, 1);
  std::vector<float> y(6, -5.0f);
  q8_0_matmul(p.panels8(), p.xq.data(), 2, y.data(), 3, 2, 2);
  q4_0_matmul(p.panels4(), p.xq.data(), 0, y.data(), 3, 0, 3);
  for (float v : y) EXPECT_EQ(v, -5.0f);
}

}  // namespace
}  // namespace genarm::model::detail
