// Portable Q8_0 x Q8_0 and Q4_0 x Q8_0 row products: the fallback when the compiler does not target
// AVX2 + FMA + F16C. It performs, for every (weight row, activation row) pair, exactly the float
// operations of the AVX2 kernel (quant_avx2.hpp) in the same order, so both paths return the same
// bits (see quant.hpp for the order); integer partial sums are exact in both.
// Thread-safety: pure functions, thread-safe.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "genarm/core/half.hpp"
#include "genarm/model/detail/quant_ref.hpp"

namespace genarm::model::detail::quant_scalar {

inline constexpr int kLanes = 8;     // one AVX2 register of floats
inline constexpr int kTileRows = 4;  // activation rows computed per pass over a weight row

// The accumulators of one (weight row, activation row) pair: block b goes to acc[b % 2], lane k
// of a block holds the integer dot product of its elements 4k .. 4k+3.
struct PairAccumulator {
  float acc[2][kLanes] = {};

  void add_block(int parity, float scale, const int* partial) {
    for (int k = 0; k < kLanes; ++k) acc[parity][k] = std::fma(scale, static_cast<float>(partial[k]), acc[parity][k]);
  }
  // (acc0 + acc1), then lanes i + 4 folded onto i, then (h0 + h2) + (h1 + h3): hsum of quant.hpp.
  float reduce() const {
    float v[kLanes];
    for (int k = 0; k < kLanes; ++k) v[k] = acc[0][k] + acc[1][k];
    float h[kLanes / 2];
    for (int i = 0; i < kLanes / 2; ++i) h[i] = v[i + kLanes / 2] + v[i];
    return (h[0] + h[2]) + (h[1] + h[3]);
  }
};

template <typename Block>
void matmul_rows(const Block* w, int64_t blocks_per_row, const BlockQ8_0* xq, int64_t n, float* y, int64_t ldy,
                 int64_t row_begin, int64_t row_end) {
  for (int64_t r = row_begin; r < row_end; ++r) {
    const Block* wr = w + r * blocks_per_row;
    for (int64_t t0 = 0; t0 < n; t0 += kTileRows) {
      const int rows = static_cast<int>(std::min<int64_t>(kTileRows, n - t0));
      PairAccumulator pair[kTileRows];
      for (int64_t b = 0; b < blocks_per_row; ++b) {
        int wv[kQuantBlock];
        for (int64_t j = 0; j < kQuantBlock; ++j) wv[j] = quant_value(wr[b], j);
        const float dw = f16_to_float(wr[b].d);
        for (int p = 0; p < rows; ++p) {
          const BlockQ8_0& xb = xq[(t0 + p) * blocks_per_row + b];
          int partial[kLanes];
          for (int k = 0; k < kLanes; ++k) {
            int s = 0;
            for (int i = 0; i < 4; ++i) s += wv[4 * k + i] * xb.qs[4 * k + i];
            partial[k] = s;
          }
          pair[p].add_block(static_cast<int>(b & 1), dw * f16_to_float(xb.d), partial);
        }
      }
      for (int p = 0; p < rows; ++p) y[(t0 + p) * ldy + r] = pair[p].reduce();
    }
  }
}

inline void q8_0_matmul_rows(const BlockQ8_0* w, int64_t blocks_per_row, const BlockQ8_0* xq, int64_t n, float* y,
                             int64_t ldy, int64_t row_begin, int64_t row_end) {
  matmul_rows(w, blocks_per_row, xq, n, y, ldy, row_begin, row_end);
}
inline void q4_0_matmul_rows(const BlockQ4_0* w, int64_t blocks_per_row, const BlockQ8_0* xq, int64_t n, float* y,
                             int64_t ldy, int64_t row_begin, int64_t row_end) {
  matmul_rows(w, blocks_per_row, xq, n, y, ldy, row_begin, row_end);
}

// Activations: the reference quantiser is the portable one.
inline void quantize_row_q8_0(const float* x, int64_t cols, BlockQ8_0* out) {
  quant_ref::quantize_row_q8_0(x, cols, out);
}

}  // namespace genarm::model::detail::quant_scalar
