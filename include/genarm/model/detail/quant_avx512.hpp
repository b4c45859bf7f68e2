// AVX-512 (F, BW, VL, VNNI) kernels for Q8_0 / Q4_0 panels (layout: quant_panel.hpp): the same
// products as quant_avx2.hpp, bit for bit, a whole panel per zmm. One register holds one 4-element
// group of the panel's 16 rows, so a block's integer dot product for 16 rows is 8 VNNI
// instructions against broadcast activation words (folded into the instruction as {1to16}
// memory operands), then one conversion, one scale product and one FMA, for 512 multiply-adds.
// A tile of up to 8 activation rows shares each unpacked weight block (8 registers), leaving
// 8 float accumulators and temporaries in the 32 registers.
// Compiled only when the compiler targets these extensions (GENARM_QUANT_AVX512); otherwise the
// AVX2 kernel is the native one.
// Thread-safety: thread-safe (per-thread activation terms).
#pragma once

#include "genarm/model/detail/quant_avx2.hpp"

#if defined(GENARM_QUANT_AVX2) && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && \
    defined(__AVX512VNNI__)
#define GENARM_QUANT_AVX512 1

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "genarm/core/unroll.hpp"
#include "genarm/model/detail/quant_panel.hpp"
#include "genarm/model/detail/quant_ref.hpp"

namespace genarm::model::detail::quant_avx512 {

// The 8 groups of 4 elements of a panel block's 16 rows: group m pairs with activation elements
// 4m .. 4m+3.
template <QuantKind K>
struct Panel {
  __m512i v[8];
  explicit Panel(const uint8_t* qs) {
    if constexpr (K == QuantKind::kQ8_0) {
      GENARM_UNROLL for (int m = 0; m < 8; ++m) v[m] = _mm512_loadu_si512(qs + 64 * m);
    } else {
      const __m512i low = _mm512_set1_epi8(15);
      GENARM_UNROLL for (int g = 0; g < 4; ++g) {
        const __m512i packed = _mm512_loadu_si512(qs + 64 * g);
        v[g] = _mm512_and_si512(packed, low);
        v[g + 4] = _mm512_and_si512(_mm512_srli_epi16(packed, 4), low);
      }
    }
  }
  // The block's exact integer dot product with activation block x, per row (lane), from `start`
  // (-bias * sum(x)).
  __m512i dot(const int8_t* x, int32_t start) const {
    __m512i s[2] = {_mm512_set1_epi32(start), _mm512_setzero_si512()};
    GENARM_UNROLL for (int m = 0; m < 8; ++m) {
      int32_t word;
      std::memcpy(&word, x + 4 * m, 4);
      s[m & 1] = _mm512_dpbusd_epi32(s[m & 1], v[m], _mm512_set1_epi32(word));
    }
    return _mm512_add_epi32(s[0], s[1]);
  }
};

// Panel p against activation rows t0 .. t0 + RX - 1: acc = fma(d_w d_x, p, acc) per block, in
// block order, for the 16 rows at once.
template <QuantKind K, int RX>
void tile(const QuantPanels<K>& w, int64_t p, const BlockQ8_0* xq, const ActivationTerms& a, int64_t t0, float* y,
          int64_t ldy, __mmask16 mask, bool prefetch) {
  __m512 acc[RX];
  GENARM_UNROLL for (int j = 0; j < RX; ++j) acc[j] = _mm512_setzero_ps();
  const int64_t blocks = w.blocks;
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* qs = w.block_qs(p, b);
    if (prefetch) quant_avx2::prefetch_ahead<K>(qs);
    const Panel<K> wv(qs);
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.block_d(p, b))));
    GENARM_UNROLL for (int j = 0; j < RX; ++j) {
      const size_t e = static_cast<size_t>((t0 + j) * blocks + b);
      const __m512i s = wv.dot(xq[e].qs, a.start[e]);
      acc[j] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(a.d[e])), _mm512_cvtepi32_ps(s), acc[j]);
    }
  }
  GENARM_UNROLL for (int j = 0; j < RX; ++j) _mm512_mask_storeu_ps(y + (t0 + j) * ldy + p * kPanelRows, mask, acc[j]);
}

template <QuantKind K>
void matmul_panels(const QuantPanels<K>& w, const BlockQ8_0* xq, int64_t n, float* y, int64_t ldy,
                   int64_t row_begin, int64_t row_end) {
  if (row_begin >= row_end || n <= 0) return;
  const ActivationTerms& a = activation_terms<K>(xq, n * w.blocks);
  for (int64_t p = row_begin / kPanelRows; p * kPanelRows < row_end; ++p) {
    const PanelLanes lanes = panel_lanes(p, row_begin, row_end);
    const auto mask = static_cast<__mmask16>(((1u << lanes.hi) - 1u) & ~((1u << lanes.lo) - 1u));
    // The first tile reads the panel from memory (prefetched); later ones find it in L2.
    for (int64_t t0 = 0; t0 < n;) {
      const bool prefetch = t0 == 0;
      const int64_t left = n - t0;
      if (left >= 8) {
        tile<K, 8>(w, p, xq, a, t0, y, ldy, mask, prefetch);
        t0 += 8;
      } else if (left >= 4) {
        tile<K, 4>(w, p, xq, a, t0, y, ldy, mask, prefetch);
        t0 += 4;
      } else if (left >= 2) {
        tile<K, 2>(w, p, xq, a, t0, y, ldy, mask, prefetch);
        t0 += 2;
      } else {
        tile<K, 1>(w, p, xq, a, t0, y, ldy, mask, prefetch);
        t0 += 1;
      }
    }
  }
}

// The activation quantiser is the AVX2 one (its cost is per activation, not per weight).
inline void quantize_row_q8_0(const float* x, int64_t cols, BlockQ8_0* out) {
  quant_avx2::quantize_row_q8_0(x, cols, out);
}

}  // namespace genarm::model::detail::quant_avx512

#endif
