// Portable Q8_0 / Q4_0 panel products (layout: quant_panel.hpp): the fallback when the compiler does
// not target AVX2 + FMA + F16C. For every (weight row, activation row) pair it performs exactly the
// float operations of the SIMD kernels in the same order (quant.hpp), so all paths return the same
// bits; the integer block dot products are exact in every path.
// Thread-safety: thread-safe (per-thread activation terms).
#pragma once

#include <cmath>
#include <cstdint>

#include "genarm/model/detail/quant_panel.hpp"
#include "genarm/model/detail/quant_ref.hpp"

namespace genarm::model::detail::quant_scalar {

template <QuantKind K>
void matmul_panels(const QuantPanels<K>& w, const BlockQ8_0* xq, int64_t n, float* y, int64_t ldy,
                   int64_t row_begin, int64_t row_end) {
  if (row_begin >= row_end || n <= 0) return;
  const int64_t blocks = w.blocks;
  const ActivationTerms& a = activation_terms<K>(xq, n * blocks);
  for (int64_t p = row_begin / kPanelRows; p * kPanelRows < row_end; ++p) {
    const PanelLanes lanes = panel_lanes(p, row_begin, row_end);
    for (int64_t t = 0; t < n; ++t) {
      float acc[kPanelRows] = {};
      for (int64_t b = 0; b < blocks; ++b) {
        const uint8_t* qs = w.block_qs(p, b);
        const uint16_t* d = w.block_d(p, b);
        const size_t e = static_cast<size_t>(t * blocks + b);
        const int8_t* x = xq[e].qs;
        for (int64_t i = lanes.lo; i < lanes.hi; ++i) {
          int32_t s = a.start[e];
          for (int64_t m = 0; m < 8; ++m) {
            for (int k = 0; k < 4; ++k) s += panel_weight<K>(qs, m, i, k) * x[4 * m + k];
          }
          acc[i] = std::fma(f16_to_float(d[i]) * a.d[e], static_cast<float>(s), acc[i]);
        }
      }
      for (int64_t i = lanes.lo; i < lanes.hi; ++i) y[t * ldy + p * kPanelRows + i] = acc[i];
    }
  }
}

// Activations: the reference quantiser is the portable one.
inline void quantize_row_q8_0(const float* x, int64_t cols, BlockQ8_0* out) {
  quant_ref::quantize_row_q8_0(x, cols, out);
}

}  // namespace genarm::model::detail::quant_scalar
