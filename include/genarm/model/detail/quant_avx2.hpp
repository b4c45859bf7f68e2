// AVX2 + FMA + F16C kernels for Q8_0 / Q4_0 weights: the activation quantiser (bit-identical to
// quant_ref::quantize_row_q8_0) and the panel products (layout: quant_panel.hpp). A ymm register
// holds one 4-element group of 8 rows (half a panel), so one unsigned x signed byte dot product
// advances 8 rows against one broadcast activation word: AVX-VNNI _mm256_dpbusd when the compiler
// targets it, else _mm256_maddubs_epi16 + _mm256_madd_epi16 (Q8_0 then via ggml's sign trick on
// |w| and sign(x, w)). Either way the block sums are the same exact integers, so the same bits
// (quant.hpp's operation order). fp16 scales are widened with F16C.
// Each weight block is prefetched kPrefetchBytes ahead on a panel's first pass: without it one
// thread streamed Q8_0 weights at 6-7 GB/s against 12-16 GB/s for the F32 kernel (out-of-order
// execution alone does not keep enough cache misses in flight).
// Compiled only when the compiler targets AVX2, FMA and F16C (GENARM_QUANT_AVX2).
// Thread-safety: thread-safe (per-thread activation terms).
#pragma once

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define GENARM_QUANT_AVX2 1

#include <immintrin.h>

#include <bit>
#include <cstdint>
#include <cstring>

#include "genarm/core/unroll.hpp"
#include "genarm/model/detail/quant_panel.hpp"
#include "genarm/model/detail/quant_ref.hpp"

namespace genarm::model::detail::quant_avx2 {

#ifndef GENARM_QUANT_PREFETCH
#define GENARM_QUANT_PREFETCH 8192
#endif
inline constexpr int kPrefetchBytes = GENARM_QUANT_PREFETCH;
// Hides v from the optimiser (no FMA contraction of the product that made it with a later add).
inline __m256 opaque(__m256 v) {
  asm("" : "+x"(v));
  return v;
}

inline void quantize_block_q8_0(const float* x, BlockQ8_0& out) {
  const __m256 v[4] = {_mm256_loadu_ps(x), _mm256_loadu_ps(x + 8), _mm256_loadu_ps(x + 16), _mm256_loadu_ps(x + 24)};
  // max |x| on the bit patterns: the same value as a float max for finite input, and >= 0x7f800000
  // for any inf or NaN (a float max would drop a NaN).
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff);
  __m256i m = _mm256_and_si256(_mm256_castps_si256(v[0]), abs_mask);
  GENARM_UNROLL for (int i = 1; i < 4; ++i) {
    m = _mm256_max_epu32(m, _mm256_and_si256(_mm256_castps_si256(v[i]), abs_mask));
  }
  __m128i m4 = _mm_max_epu32(_mm256_castsi256_si128(m), _mm256_extracti128_si256(m, 1));
  m4 = _mm_max_epu32(m4, _mm_shuffle_epi32(m4, 0x4e));
  m4 = _mm_max_epu32(m4, _mm_shuffle_epi32(m4, 0xb1));
  const uint32_t bits = static_cast<uint32_t>(_mm_cvtsi128_si32(m4));
  if (bits >= 0x7f800000u) [[unlikely]] {
    out.d = kQuantNaNScale;
    std::memset(out.qs, 0, sizeof(out.qs));
    return;
  }
  const float d = std::bit_cast<float>(bits) / 127.0f;
  const __m256 id = _mm256_set1_ps(quant_ref::inverse_scale(d));
  out.d = static_cast<uint16_t>(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT));  // == float_to_f16 (checked exhaustively)
  // roundf (half away from zero) = trunc(t + copysign(0.5 - 2^-25, t)) for |t| <= 256 (checked
  // exhaustively); _mm256_round_ps would round half to even.
  const __m256 half = _mm256_set1_ps(0.49999997f);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256i q[4];
  GENARM_UNROLL for (int i = 0; i < 4; ++i) {
    const __m256 t = opaque(_mm256_mul_ps(v[i], id));
    q[i] = _mm256_cvttps_epi32(_mm256_add_ps(t, _mm256_or_ps(half, _mm256_and_ps(t, sign))));
  }
  // int32 -> int8 (values in [-127, 127], no saturation); the packs work per 128-bit lane, the
  // permutation restores element order.
  const __m256i q16a = _mm256_packs_epi32(q[0], q[1]);
  const __m256i q16b = _mm256_packs_epi32(q[2], q[3]);
  const __m256i q8 =
      _mm256_permutevar8x32_epi32(_mm256_packs_epi16(q16a, q16b), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out.qs), q8);
}

inline void quantize_row_q8_0(const float* x, int64_t cols, BlockQ8_0* out) {
  quant_ref::quantize_row_with(x, cols, out, [](const float* b, BlockQ8_0& o) { quantize_block_q8_0(b, o); });
}

// Prefetches the panel block kPrefetchBytes after `qs`: addresses (never dereferenced: prefetches
// do not fault), computed as integers since they may lie past the end of the matrix.
template <QuantKind K>
inline void prefetch_ahead(const uint8_t* qs) {
  for (int64_t g = 0; g < PanelTraits<K>::kQsBytes / 64; ++g)
    _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(qs) + kPrefetchBytes + 64 * g), _MM_HINT_T0);
}

// acc + sum over i < 4 of a[4k + i] * b[4k + i] per int32 lane k (a unsigned, b signed bytes; no
// intermediate saturation occurs for the operands used here: Q4_0 nibbles, or |a| <= 128 with the
// sign trick).
inline __m256i dot_u8s8(__m256i acc, __m256i a, __m256i b) {
#if defined(__AVXVNNI__)
  return _mm256_dpbusd_avx_epi32(acc, a, b);
#elif defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_dpbusd_epi32(acc, a, b);
#else
  // Pairs to int16 (at most 2 * 128 * 127 = 32512: no saturation), then pairs of pairs to int32.
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1)));
#endif
}
#if defined(__AVXVNNI__) || (defined(__AVX512VNNI__) && defined(__AVX512VL__))
inline constexpr bool kVnni = true;
#else
inline constexpr bool kVnni = false;
#endif

// Activation elements 4m .. 4m+3 of a block in every int32 lane.
inline __m256i broadcast_word(const int8_t* x) {
  int32_t v;
  std::memcpy(&v, x, 4);
  return _mm256_set1_epi32(v);
}

// The 8 groups of 4 elements of rows 8h .. 8h+7 of one panel block: group m pairs with activation
// elements 4m .. 4m+3.
template <QuantKind K>
struct HalfPanel {
  __m256i v[8];
  HalfPanel(const uint8_t* qs, int h) {
    if constexpr (K == QuantKind::kQ8_0) {
      GENARM_UNROLL for (int m = 0; m < 8; ++m) {
        v[m] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 64 * m + 32 * h));
      }
    } else {
      const __m256i low = _mm256_set1_epi8(15);
      GENARM_UNROLL for (int g = 0; g < 4; ++g) {
        const __m256i packed = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 64 * g + 32 * h));
        v[g] = _mm256_and_si256(packed, low);
        v[g + 4] = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low);
      }
    }
  }
  // The block's exact integer dot product with activation block x, per row (lane).
  __m256i dot(const int8_t* x, int32_t start) const {
    if constexpr (K == QuantKind::kQ8_0 && !kVnni) {
      // maddubs on w + 128 could saturate: back to signed w and ggml's sign trick (|w|, sign(x, w)),
      // which sums w x directly, so the -128 sum(x) start is not wanted.
      (void)start;
      const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
      __m256i s[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
      GENARM_UNROLL for (int m = 0; m < 8; ++m) {
        const __m256i w = _mm256_xor_si256(v[m], flip);
        s[m & 1] = dot_u8s8(s[m & 1], _mm256_sign_epi8(w, w), _mm256_sign_epi8(broadcast_word(x + 4 * m), w));
      }
      return _mm256_add_epi32(s[0], s[1]);
    } else {
      __m256i s[2] = {_mm256_set1_epi32(start), _mm256_setzero_si256()};
      GENARM_UNROLL for (int m = 0; m < 8; ++m) s[m & 1] = dot_u8s8(s[m & 1], v[m], broadcast_word(x + 4 * m));
      return _mm256_add_epi32(s[0], s[1]);
    }
  }
};

// Rows 8h .. 8h+7 of panel p against activation rows t0 .. t0 + RX - 1: each weight block is
// unpacked once for the RX rows; acc = fma(d_w d_x, p, acc) per block, in block order.
template <QuantKind K, int RX>
void half_tile(const QuantPanels<K>& w, int64_t p, int h, const BlockQ8_0* xq, const ActivationTerms& a, int64_t t0,
               float* y, int64_t ldy, PanelLanes lanes, bool prefetch) {
  __m256 acc[RX];
  GENARM_UNROLL for (int j = 0; j < RX; ++j) acc[j] = _mm256_setzero_ps();
  const int64_t blocks = w.blocks;
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* qs = w.block_qs(p, b);
    if (prefetch) prefetch_ahead<K>(qs);
    const HalfPanel<K> wv(qs, h);
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.block_d(p, b) + 8 * h)));
    GENARM_UNROLL for (int j = 0; j < RX; ++j) {
      const size_t e = static_cast<size_t>((t0 + j) * blocks + b);
      const __m256i s = wv.dot(xq[e].qs, a.start[e]);
      acc[j] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(a.d[e])), _mm256_cvtepi32_ps(s), acc[j]);
    }
  }
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i mask = _mm256_and_si256(_mm256_cmpgt_epi32(lane, _mm256_set1_epi32(static_cast<int>(lanes.lo - 8 * h) - 1)),
                                        _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(lanes.hi - 8 * h)), lane));
  GENARM_UNROLL for (int j = 0; j < RX; ++j) {
    _mm256_maskstore_ps(y + (t0 + j) * ldy + p * kPanelRows + 8 * h, mask, acc[j]);
  }
}

template <QuantKind K>
void matmul_panels(const QuantPanels<K>& w, const BlockQ8_0* xq, int64_t n, float* y, int64_t ldy,
                   int64_t row_begin, int64_t row_end) {
  if (row_begin >= row_end || n <= 0) return;
  const ActivationTerms& a = activation_terms<K>(xq, n * w.blocks);
  for (int64_t p = row_begin / kPanelRows; p * kPanelRows < row_end; ++p) {
    const PanelLanes lanes = panel_lanes(p, row_begin, row_end);
    for (int h = 0; h < 2; ++h) {
      if (lanes.hi <= 8 * h || lanes.lo >= 8 * h + 8) continue;
      // The first pass over a panel reads it from memory (prefetched); later ones find it in L2.
      for (int64_t t0 = 0; t0 < n;) {
        const bool prefetch = t0 == 0 && (h == 0 || lanes.lo >= 8);
        const int64_t left = n - t0;
        if (left >= 4) {
          half_tile<K, 4>(w, p, h, xq, a, t0, y, ldy, lanes, prefetch);
          t0 += 4;
        } else if (left >= 2) {
          half_tile<K, 2>(w, p, h, xq, a, t0, y, ldy, lanes, prefetch);
          t0 += 2;
        } else {
          half_tile<K, 1>(w, p, h, xq, a, t0, y, ldy, lanes, prefetch);
          t0 += 1;
        }
      }
    }
  }
}

}  // namespace genarm::model::detail::quant_avx2

#endif
