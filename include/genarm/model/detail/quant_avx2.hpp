// AVX2 + FMA + F16C kernels for Q8_0 / Q4_0 weights: the activation quantiser (bit-identical to
// quant_ref::quantize_row_q8_0) and the row products Q8_0 x Q8_0 and Q4_0 x Q8_0, after ggml's
// ggml_vec_dot_q8_0_q8_0 / ggml_vec_dot_q4_0_q8_0 (ggml/src/ggml-cpu/arch/x86/quants.c):
// unsigned x signed byte dot products into int32 lanes (Q8_0: on |w| and sign(x, w); Q4_0: on the
// raw nibbles, the -8 offset added from a per-call table), fp16 scales widened with F16C, FMA into
// float accumulators. The byte products are _mm256_maddubs_epi16 + _mm256_madd_epi16, or one
// AVX-VNNI _mm256_dpbusd when the compiler targets it (not on Zen 3): the same exact integers,
// so the same bits (quant.hpp's operation order).
// Each weight block is prefetched kPrefetchBytes ahead: without it one thread streamed Q8_0 weights
// at 6-7 GB/s against 12-16 GB/s for the F32 kernel (out-of-order execution alone does not keep
// enough cache misses in flight at ~17 instructions per 34-byte block); 4-16 KiB measured alike.
// Compiled only when the compiler targets AVX2, FMA and F16C (GENARM_QUANT_AVX2).
// Thread-safety: thread-safe (per-thread scratch, see ActivationScratch).
#pragma once

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define GENARM_QUANT_AVX2 1

#include <immintrin.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <vector>

#include "genarm/model/detail/quant_ref.hpp"

namespace genarm::model::detail::quant_avx2 {

inline constexpr int kTileRows = 4;  // activation rows computed per pass over a weight row
#ifndef GENARM_QUANT_PREFETCH
#define GENARM_QUANT_PREFETCH 8192
#endif
inline constexpr int kPrefetchBytes = GENARM_QUANT_PREFETCH;
#ifndef GENARM_QUANT_GROUP
#define GENARM_QUANT_GROUP 8192
#endif
inline constexpr int64_t kGroupBytes = GENARM_QUANT_GROUP;  // weight bytes per row group when n > kTileRows

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
  for (int i = 1; i < 4; ++i) m = _mm256_max_epu32(m, _mm256_and_si256(_mm256_castps_si256(v[i]), abs_mask));
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
  for (int i = 0; i < 4; ++i) {
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

// The fp16 scale of a block, widened (F16C: the same value as f16_to_float) into all 8 lanes.
template <typename Block>
inline __m256 block_scale(const Block& b) {
  return _mm256_cvtph_ps(_mm_set1_epi16(static_cast<short>(b.d)));
}

// Horizontal sum: lanes i + 4 onto i, then (h0 + h2) + (h1 + h3) (ggml's hsum_float_8).
inline float hsum(__m256 v) {
  __m128 h = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  return _mm_cvtss_f32(h);
}

// What the kernels precompute once per call from the activation blocks (reused by every weight
// row): the scales as float32 and, for Q4_0 weights, -8 * (x[4k] + ... + x[4k+3]) for the 8 lanes of
// each block. Kept per thread; grows on a thread's first call with a larger n * blocks_per_row and
// is never shrunk, so steady-state decoding does not allocate.
struct ActivationScratch {
  std::vector<float> scales;     // [t * blocks_per_row + b]
  std::vector<int32_t> offsets;  // [(t * blocks_per_row + b) * 8 + k]; Q4_0 only
};
inline ActivationScratch& activation_scratch() {
  thread_local ActivationScratch scratch;
  return scratch;
}

// acc + sum over i < 4 of a[4k + i] * b[4k + i] per int32 lane k (a unsigned, b signed bytes; no
// intermediate saturation occurs for the operands used here: |a| <= 128, |b| <= 127).
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

// Q8_0 weights: ggml's sign trick, so that the unsigned operand is |w| and the signed one
// sign(w) * x (x in [-127, 127], so the negation cannot overflow).
struct Q8Weights {
  using Block = BlockQ8_0;
  struct Values {
    __m256i w, wabs;
  };
  static Values load(const BlockQ8_0& b) {
    const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs));
    return {w, _mm256_sign_epi8(w, w)};
  }
  // Lane k: sum of w[j] x[j] over j in 4k .. 4k+3.
  static __m256i lane_sums(const Values& v, const BlockQ8_0& x, const int32_t*) {
    const __m256i xs = _mm256_sign_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs)), v.w);
    return dot_u8s8(_mm256_setzero_si256(), v.wabs, xs);
  }
  static constexpr bool kNeedsOffsets = false;
};

// Q4_0 weights: the nibbles q in [0, 15] are the unsigned operand as they are, and the -8 offset is
// the precomputed -8 * sum(x) of the lane: sum (q - 8) x exactly, without ggml's per-pair sign ops.
struct Q4Weights {
  using Block = BlockQ4_0;
  struct Values {
    __m256i q;
  };
  static Values load(const BlockQ4_0& b) {
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs));
    const __m256i nibbles = _mm256_inserti128_si256(_mm256_castsi128_si256(packed), _mm_srli_epi16(packed, 4), 1);
    return {_mm256_and_si256(nibbles, _mm256_set1_epi8(15))};
  }
  static __m256i lane_sums(const Values& v, const BlockQ8_0& x, const int32_t* offsets) {
    return dot_u8s8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(offsets)), v.q,
                    _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs)));
  }
  static constexpr bool kNeedsOffsets = true;
};

// One weight row against T activation rows: each weight block is loaded and unpacked once and
// used by the T pairs; each pair keeps its own two accumulators. x[p], offsets[p]: row p's blocks
// and Q4_0 table; scales[b * scale_stride + p]: the scale of row p's block b. A full tile forms its
// four d_w * d_x in one 4-wide multiply (the same four products, bit for bit).
template <int T, typename W>
inline void row_tile(const typename W::Block* wr, int64_t blocks, const BlockQ8_0* const* x, const float* scales,
                     int64_t scale_stride, const int32_t* const* offsets, float* const* y) {
  __m256 acc[T][2];
#pragma GCC unroll 4
  for (int p = 0; p < T; ++p) acc[p][0] = acc[p][1] = _mm256_setzero_ps();
  auto step = [&](int64_t b, int parity) __attribute__((always_inline)) {
    // An address (never dereferenced: prefetches do not fault), computed as an integer since it
    // may lie past the end of the matrix.
    _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(wr + b) + kPrefetchBytes), _MM_HINT_T0);
    const typename W::Values wv = W::load(wr[b]);
    const __m256 dw = block_scale(wr[b]);
    const float* sb = scales + b * scale_stride;
    [[maybe_unused]] __m128 s4;
    if constexpr (T == 4) s4 = _mm_mul_ps(_mm256_castps256_ps128(dw), _mm_loadu_ps(sb));
#pragma GCC unroll 4
    for (int p = 0; p < T; ++p) {
      const __m256i sum = W::lane_sums(wv, x[p][b], W::kNeedsOffsets ? offsets[p] + b * 8 : nullptr);
      __m256 scale;
      if constexpr (T == 4) {
        scale = _mm256_set1_ps(s4[p]);
      } else {
        scale = _mm256_mul_ps(dw, _mm256_broadcast_ss(sb + p));
      }
      acc[p][parity] = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(sum), acc[p][parity]);
    }
  };
  int64_t b = 0;
  for (; b + 2 <= blocks; b += 2) {
    step(b, 0);
    step(b + 1, 1);
  }
  if (b < blocks) step(b, 0);
#pragma GCC unroll 4
  for (int p = 0; p < T; ++p) *y[p] = hsum(_mm256_add_ps(acc[p][0], acc[p][1]));
}

template <typename W>
void matmul_rows(const typename W::Block* w, int64_t blocks_per_row, const BlockQ8_0* xq, int64_t n, float* y,
                 int64_t ldy, int64_t row_begin, int64_t row_end) {
  if (row_begin >= row_end || n <= 0) return;
  ActivationScratch& scratch = activation_scratch();
  const size_t count = static_cast<size_t>(n * blocks_per_row);
  if (scratch.scales.size() < count) scratch.scales.resize(count);
  for (int64_t t = 0; t < n; ++t) {  // transposed: [b * n + t]
    for (int64_t b = 0; b < blocks_per_row; ++b) scratch.scales[b * n + t] = _cvtsh_ss(xq[t * blocks_per_row + b].d);
  }
  if constexpr (W::kNeedsOffsets) {
    if (scratch.offsets.size() < 8 * count) scratch.offsets.resize(8 * count);
    const __m256i eight = _mm256_set1_epi8(8);
    const __m256i minus_one = _mm256_set1_epi8(-1);
    for (size_t i = 0; i < count; ++i) {
      const __m256i x8 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq[i].qs));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(scratch.offsets.data() + 8 * i),
                          dot_u8s8(_mm256_setzero_si256(), eight, _mm256_sign_epi8(x8, minus_one)));  // 8 * -x
    }
  }
  // Weight rows go in groups of about kGroupBytes: the group is read from memory once (first
  // tile) and from L1/L2 for the other tiles, while each tile's activation rows are reused by every
  // row of the group instead of coming back from L2 once per weight row. With n <= kTileRows this is
  // one weight row at a time, in order.
  const int64_t row_bytes = blocks_per_row * static_cast<int64_t>(sizeof(typename W::Block));
  const int64_t group = n <= kTileRows ? 1 : (kGroupBytes + row_bytes - 1) / row_bytes;
  for (int64_t r0 = row_begin; r0 < row_end; r0 += group) {
    const int64_t r1 = r0 + group < row_end ? r0 + group : row_end;
    for (int64_t t0 = 0; t0 < n; t0 += kTileRows) {
      const float* scales = scratch.scales.data() + t0;
      const BlockQ8_0* x[kTileRows];
      const int32_t* offsets[kTileRows];
      const int rows = static_cast<int>(n - t0 < kTileRows ? n - t0 : kTileRows);
      for (int p = 0; p < rows; ++p) {
        const int64_t offset = (t0 + p) * blocks_per_row;
        x[p] = xq + offset;
        offsets[p] = W::kNeedsOffsets ? scratch.offsets.data() + 8 * offset : nullptr;
      }
      for (int64_t r = r0; r < r1; ++r) {
        const typename W::Block* wr = w + r * blocks_per_row;
        float* out[kTileRows];
        for (int p = 0; p < rows; ++p) out[p] = y + (t0 + p) * ldy + r;
        switch (rows) {
          case 4:
            row_tile<4, W>(wr, blocks_per_row, x, scales, n, offsets, out);
            break;
          case 3:
            row_tile<3, W>(wr, blocks_per_row, x, scales, n, offsets, out);
            break;
          case 2:
            row_tile<2, W>(wr, blocks_per_row, x, scales, n, offsets, out);
            break;
          default:
            row_tile<1, W>(wr, blocks_per_row, x, scales, n, offsets, out);
            break;
        }
      }
    }
  }
}

inline void q8_0_matmul_rows(const BlockQ8_0* w, int64_t blocks_per_row, const BlockQ8_0* xq, int64_t n, float* y,
                             int64_t ldy, int64_t row_begin, int64_t row_end) {
  matmul_rows<Q8Weights>(w, blocks_per_row, xq, n, y, ldy, row_begin, row_end);
}
inline void q4_0_matmul_rows(const BlockQ4_0* w, int64_t blocks_per_row, const BlockQ8_0* xq, int64_t n, float* y,
                             int64_t ldy, int64_t row_begin, int64_t row_end) {
  matmul_rows<Q4Weights>(w, blocks_per_row, xq, n, y, ldy, row_begin, row_end);
}

}  // namespace genarm::model::detail::quant_avx2

#endif
