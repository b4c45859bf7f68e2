#include "genarm/model/detail/quant_panel.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "genarm/model/detail/quant.hpp"
#include "genarm/model/weight_matrix.hpp"

namespace genarm::model::detail {
namespace {

std::vector<float> random_matrix(int64_t rows, int64_t cols, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.0f, 0.1f);
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (float& v : w) v = dist(rng);
  return w;
}

template <QuantKind K>
std::vector<typename PanelTraits<K>::Block> quantise(const std::vector<float>& w, int64_t rows, int64_t cols) {
  std::vector<typename PanelTraits<K>::Block> out(static_cast<size_t>(rows * quant_blocks(cols)));
  for (int64_t r = 0; r < rows; ++r) {
    if constexpr (K == QuantKind::kQ8_0) {
      quantize_row_q8_0(w.data() + r * cols, cols, out.data() + r * quant_blocks(cols));
    } else {
      quantize_row_q4_0(w.data() + r * cols, cols, out.data() + r * quant_blocks(cols));
    }
  }
  return out;
}

template <QuantKind K>
void expect_round_trip(int64_t rows, int64_t cols) {
  const std::vector<float> w = random_matrix(rows, cols, static_cast<uint64_t>(rows * 1000 + cols));
  const auto blocks = quantise<K>(w, rows, cols);
  const std::vector<uint8_t> packed = pack_matrix<K>(blocks.data(), rows, cols);
  ASSERT_EQ(static_cast<int64_t>(packed.size()), panel_matrix_bytes<K>(rows, cols));
  const QuantPanels<K> view(packed.data(), rows, cols);
  const int64_t per_row = quant_blocks(cols);
  std::vector<float> got(static_cast<size_t>(cols)), want(got.size());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t b = 0; b < per_row; ++b) {
      const auto back = unpack_block(view, r, b);
      ASSERT_EQ(std::memcmp(&back, &blocks[static_cast<size_t>(r * per_row + b)], sizeof(back)), 0)
          << "row " << r << " block " << b;
    }
    dequantize_panel_row(view, r, cols, got.data());
    dequantize_row(blocks.data() + r * per_row, cols, want.data());
    ASSERT_EQ(got, want) << "row " << r;
  }
  // The padding rows of the last panel are zero blocks: value 0 and scale 0.
  for (int64_t r = rows; r < quant_panels(rows) * kPanelRows; ++r) {
    for (int64_t b = 0; b < per_row; ++b) {
      const auto pad = unpack_block(view, r, b);
      EXPECT_EQ(pad.d, 0);
      for (int64_t j = 0; j < kQuantBlock; ++j) EXPECT_EQ(quant_value(pad, j), 0);
    }
  }
}

TEST(QuantPanel, SizesArePanelsOfSixteenRows) {
  EXPECT_EQ(quant_panels(1), 1);
  EXPECT_EQ(quant_panels(16), 1);
  EXPECT_EQ(quant_panels(17), 2);
  // The same bytes per row as llama.cpp's blocks (34 and 18 per 32 weights), rows padded to 16.
  EXPECT_EQ((panel_matrix_bytes<QuantKind::kQ8_0>(896, 4864)), 896 * 152 * 34);
  EXPECT_EQ((panel_matrix_bytes<QuantKind::kQ4_0>(17, 100)), 32 * 4 * 18);
}

TEST(QuantPanel, PackingKeepsEveryBlockAndValue) {
  for (int64_t rows : {1, 15, 16, 17, 40}) {
    for (int64_t cols : {1, 31, 32, 33, 100}) {
      expect_round_trip<QuantKind::kQ8_0>(rows, cols);
      expect_round_trip<QuantKind::kQ4_0>(rows, cols);
    }
  }
}

TEST(QuantPanel, LayoutIsFourByteWordsOfSixteenRows) {
  // Word (m, i) of a Q8_0 panel block: elements 4m .. 4m+3 of row i, biased by 128; of Q4_0: the
  // block's bytes 4m .. 4m+3, as stored.
  const int64_t rows = 16, cols = 32;
  std::vector<BlockQ8_0> w8(rows);
  std::vector<BlockQ4_0> w4(rows);
  for (int64_t r = 0; r < rows; ++r) {
    w8[r].d = static_cast<uint16_t>(r + 1);
    w4[r].d = static_cast<uint16_t>(r + 100);
    for (int j = 0; j < 32; ++j) w8[r].qs[j] = static_cast<int8_t>(r * 7 - j);
    for (int j = 0; j < 16; ++j) w4[r].qs[j] = static_cast<uint8_t>(r * 16 + j);
  }
  const auto p8 = pack_matrix<QuantKind::kQ8_0>(w8.data(), rows, cols);
  const auto p4 = pack_matrix<QuantKind::kQ4_0>(w4.data(), rows, cols);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t m = 0; m < 8; ++m) {
      for (int k = 0; k < 4; ++k) {
        EXPECT_EQ(p8[static_cast<size_t>(64 * m + 4 * i + k)],
                  static_cast<uint8_t>(static_cast<uint8_t>(w8[i].qs[4 * m + k]) ^ 0x80u));
        if (m < 4) EXPECT_EQ(p4[static_cast<size_t>(64 * m + 4 * i + k)], w4[i].qs[4 * m + k]);
      }
    }
    uint16_t d8 = 0, d4 = 0;
    std::memcpy(&d8, p8.data() + 512 + 2 * i, 2);
    std::memcpy(&d4, p4.data() + 256 + 2 * i, 2);
    EXPECT_EQ(d8, w8[i].d);
    EXPECT_EQ(d4, w4[i].d);
  }
}

TEST(QuantPanel, ActivationTermsAreScaleAndBiasedSum) {
  std::vector<BlockQ8_0> x(2);
  for (int j = 0; j < 32; ++j) {
    x[0].qs[j] = static_cast<int8_t>(j - 10);
    x[1].qs[j] = static_cast<int8_t>(j % 2 ? -127 : 127);
  }
  x[0].d = float_to_f16(0.25f);
  x[1].d = float_to_f16(-3.0f);
  const ActivationTerms& a8 = activation_terms<QuantKind::kQ8_0>(x.data(), 2);
  EXPECT_EQ(a8.d[0], 0.25f);
  EXPECT_EQ(a8.d[1], -3.0f);
  EXPECT_EQ(a8.start[0], -128 * (496 - 320));
  EXPECT_EQ(a8.start[1], 0);
  const ActivationTerms& a4 = activation_terms<QuantKind::kQ4_0>(x.data(), 1);
  EXPECT_EQ(a4.start[0], -8 * (496 - 320));
}

TEST(QuantPanel, PanelLanesClipToTheRowRange) {
  EXPECT_EQ(panel_lanes(0, 0, 40).lo, 0);
  EXPECT_EQ(panel_lanes(0, 0, 40).hi, 16);
  EXPECT_EQ(panel_lanes(2, 0, 40).hi, 8);
  EXPECT_EQ(panel_lanes(1, 20, 30).lo, 4);
  EXPECT_EQ(panel_lanes(1, 20, 30).hi, 14);
}

// A quantised WeightMatrix reads back (row()) exactly the dequantised llama.cpp blocks, and its
// product agrees with the packed kernel run on blocks quantised separately.
TEST(QuantPanel, WeightMatrixQuantisesIntoPanels) {
  const int64_t rows = 37, cols = 70;
  const std::vector<float> w = random_matrix(rows, cols, 5);
  LargePageBuffer bytes(sizeof(float) * w.size());
  std::memcpy(bytes.data(), w.data(), bytes.size());
  const WeightMatrix f32 = WeightMatrix::owned(WeightType::kF32, rows, cols, std::move(bytes));
  ThreadPool pool(2);
  for (WeightType type : {WeightType::kQ8_0, WeightType::kQ4_0}) {
    const WeightMatrix q = f32.converted(type, &pool);
    EXPECT_EQ(q.bytes(), WeightMatrix::matrix_bytes(type, rows, cols));
    std::vector<float> got(static_cast<size_t>(cols)), want(got.size());
    const auto b8 = quantise<QuantKind::kQ8_0>(w, rows, cols);
    const auto b4 = quantise<QuantKind::kQ4_0>(w, rows, cols);
    for (int64_t r = 0; r < rows; ++r) {
      q.row(r, got.data());
      if (type == WeightType::kQ8_0) {
        dequantize_row(b8.data() + r * quant_blocks(cols), cols, want.data());
      } else {
        dequantize_row(b4.data() + r * quant_blocks(cols), cols, want.data());
      }
      ASSERT_EQ(got, want) << weight_type_name(type) << " row " << r;
    }
    // Back to F32: the dequantised values.
    const WeightMatrix back = q.converted(WeightType::kF32, &pool);
    back.row(rows - 1, got.data());
    q.row(rows - 1, want.data());
    EXPECT_EQ(got, want);
  }
}

}  // namespace
}  // namespace genarm::model::detail
