// Weight kernels of the forward pass: Y[t, r] = dot(W[r, :], X[t, :]) for a range of weight rows r
// and n activation rows t, W row-major in F32, F16 or BF16 (16-bit weights are widened to float32
// exactly: in registers, or into a small per-thread buffer when the widened row is reused),
// float32 accumulation. Decode (n = 1), batched decode (n = the sequences of a step) and prefill
// (n = a chunk of prompt tokens) all run kernels of the one dot order below; matmul.hpp picks
// among them, and the AVX2 prefill kernel (panels of both operands) is gemm_avx2.hpp.
//
// Batch invariance, exactly: every output element is computed by the same sequence of float
// operations whatever n is, however rows and activations are tiled and however rows are split
// across threads. The canonical order (kDotOrder): the dot product of a weight row with an
// activation row is split into blocks of 8 consecutive elements (the last one zero-padded);
// block b is accumulated by fused multiply-add into lane accumulator b % 2; the result is the
// horizontal sum of acc0 + acc1 in the fixed order ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)). Tiles only
// decide which (row, activation) pairs are computed together, never the order within a pair — so
// a sequence's logits do not depend on its batch, and a prompt prefilled in one pass gives exactly
// the logits of decoding it token by token.
// AVX2/FMA/F16C when the compiler targets them; otherwise a portable version of the same order
// (its results may differ from the AVX2 build in the last bits, never between batch sizes).
// With AVX-512 (F/BW/VL), one 16-lane register holds both lane accumulators of a (row,
// activation) pair, acc0 in the low half and acc1 in the high half, so 16 consecutive elements
// take one multiply-add and the results are the AVX2 kernel's bits; decoding streams weight rows
// with prefetches along row slots, and n > 1 runs a cache-blocked tile of 4 weight rows by 6
// activation rows (gemm_rows).
// Thread-safety: pure functions (the widening buffer is per thread).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "genarm/core/half.hpp"
#include "genarm/core/unroll.hpp"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define GENARM_HAVE_SIMD_KERNELS 1
#endif

namespace genarm::model::detail {

enum class WeightFormat { kF32, kF16, kBF16 };

inline constexpr int64_t kDotBlock = 8;  // elements per block of the canonical dot order
inline constexpr int kMaxTileRows = 2;   // weight rows per register tile
inline constexpr int kMaxTileCols = 3;   // activation rows per register tile
inline constexpr int64_t kLanePair = 2 * kDotBlock;  // a pair of blocks: one for each lane accumulator

template <WeightFormat F>
inline constexpr int64_t weight_size() {
  return F == WeightFormat::kF32 ? 4 : 2;
}

template <WeightFormat F>
inline const void* row_ptr(const void* w, int64_t r, int64_t cols) {
  return static_cast<const char*>(w) + r * cols * weight_size<F>();
}

template <WeightFormat F>
inline float widen(const void* base, int64_t i) {
  if constexpr (F == WeightFormat::kF32) {
    return static_cast<const float*>(base)[i];
  } else if constexpr (F == WeightFormat::kF16) {
    return f16_to_float(static_cast<const uint16_t*>(base)[i]);
  } else {
    return bf16_to_float(static_cast<const uint16_t*>(base)[i]);
  }
}

#if defined(GENARM_HAVE_SIMD_KERNELS)

using Vec = __m256;

// Decoding (one activation row) prefetches each weight row this far ahead of use: an address,
// never dereferenced (prefetches do not fault), so it may lie past the end of the matrix.
#ifndef GENARM_FLOAT_PREFETCH
#define GENARM_FLOAT_PREFETCH 4096
#endif
inline constexpr uintptr_t kFloatPrefetchBytes = GENARM_FLOAT_PREFETCH;

// 8 weights at element i, widened to float32.
template <WeightFormat F>
inline Vec wload(const void* base, int64_t i) {
  if constexpr (F == WeightFormat::kF32) {
    return _mm256_loadu_ps(static_cast<const float*>(base) + i);
  } else if constexpr (F == WeightFormat::kF16) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(base) + i)));
  } else {
    const __m256i w = _mm256_cvtepu16_epi32(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(base) + i)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
  }
}

// Lanes [0, n) set, for a last block of n < 8 elements.
inline __m256i tail_mask(int64_t n) {
  alignas(32) static constexpr int32_t kLanes[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kLanes + 8 - n));
}

// The last n < 8 weights from element i, zero-padded to a block.
template <WeightFormat F>
inline Vec wload_tail(const void* base, int64_t i, int64_t n) {
  if constexpr (F == WeightFormat::kF32) {
    return _mm256_maskload_ps(static_cast<const float*>(base) + i, tail_mask(n));
  } else {
    alignas(16) uint16_t tmp[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::memcpy(tmp, static_cast<const uint16_t*>(base) + i, static_cast<size_t>(n) * 2);
    return wload<F>(tmp, 0);
  }
}

// The canonical horizontal sum of v = acc0 + acc1.
inline float hsum8(Vec v) {
  __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));  // l0+l4 ...
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));                                        // (l0+l4)+(l2+l6), ...
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}

inline float hsum(Vec a0, Vec a1) { return hsum8(_mm256_add_ps(a0, a1)); }

// One register tile: rows w[0..R) against activation rows x[0..T) (leading dimension ldx);
// y[t * ldy + k] = dot(w[k], x[t]). 2 * R * T accumulators, each weight block loaded once.
template <WeightFormat F, int R, int T>
inline void dot_tile(const void* const* w, int64_t cols, const float* x, int64_t ldx, float* y, int64_t ldy) {
  Vec acc0[R][T], acc1[R][T];
  GENARM_UNROLL for (int k = 0; k < R; ++k) {
    GENARM_UNROLL for (int t = 0; t < T; ++t) {
      acc0[k][t] = _mm256_setzero_ps();
      acc1[k][t] = _mm256_setzero_ps();
    }
  }
  int64_t i = 0;
  for (; i + kLanePair <= cols; i += kLanePair) {
    if constexpr (T == 1) {
      // Decoding streams the weights once; see kFloatPrefetchBytes.
      GENARM_UNROLL for (int k = 0; k < R; ++k) {
        _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(w[k]) +
                                                   static_cast<uintptr_t>(i * weight_size<F>()) + kFloatPrefetchBytes),
                     _MM_HINT_T0);
      }
    }
    Vec wv[R];
    GENARM_UNROLL for (int k = 0; k < R; ++k) wv[k] = wload<F>(w[k], i);
    GENARM_UNROLL for (int t = 0; t < T; ++t) {
      const Vec xv = _mm256_loadu_ps(x + t * ldx + i);
      GENARM_UNROLL for (int k = 0; k < R; ++k) acc0[k][t] = _mm256_fmadd_ps(wv[k], xv, acc0[k][t]);
    }
    GENARM_UNROLL for (int k = 0; k < R; ++k) wv[k] = wload<F>(w[k], i + kDotBlock);
    GENARM_UNROLL for (int t = 0; t < T; ++t) {
      const Vec xv = _mm256_loadu_ps(x + t * ldx + i + kDotBlock);
      GENARM_UNROLL for (int k = 0; k < R; ++k) acc1[k][t] = _mm256_fmadd_ps(wv[k], xv, acc1[k][t]);
    }
  }
  bool odd = false;  // the next block's index is odd (it goes to acc1)
  if (i + kDotBlock <= cols) {
    Vec wv[R];
    GENARM_UNROLL for (int k = 0; k < R; ++k) wv[k] = wload<F>(w[k], i);
    GENARM_UNROLL for (int t = 0; t < T; ++t) {
      const Vec xv = _mm256_loadu_ps(x + t * ldx + i);
      GENARM_UNROLL for (int k = 0; k < R; ++k) acc0[k][t] = _mm256_fmadd_ps(wv[k], xv, acc0[k][t]);
    }
    i += kDotBlock;
    odd = true;
  }
  if (i < cols) {
    const int64_t rem = cols - i;
    const __m256i mask = tail_mask(rem);
    Vec wv[R];
    GENARM_UNROLL for (int k = 0; k < R; ++k) wv[k] = wload_tail<F>(w[k], i, rem);
    GENARM_UNROLL for (int t = 0; t < T; ++t) {
      const Vec xv = _mm256_maskload_ps(x + t * ldx + i, mask);
      GENARM_UNROLL for (int k = 0; k < R; ++k) {
        if (odd) {
          acc1[k][t] = _mm256_fmadd_ps(wv[k], xv, acc1[k][t]);
        } else {
          acc0[k][t] = _mm256_fmadd_ps(wv[k], xv, acc0[k][t]);
        }
      }
    }
  }
  GENARM_UNROLL for (int k = 0; k < R; ++k) {
    GENARM_UNROLL for (int t = 0; t < T; ++t) y[t * ldy + k] = hsum(acc0[k][t], acc1[k][t]);
  }
}

#else  // portable: the same blocks, lanes and sums, written out in scalar code

template <WeightFormat F, int R, int T>
inline void dot_tile(const void* const* w, int64_t cols, const float* x, int64_t ldx, float* y, int64_t ldy) {
  for (int k = 0; k < R; ++k) {
    for (int t = 0; t < T; ++t) {
      const float* xt = x + t * ldx;
      float acc[2][kDotBlock] = {};
      for (int64_t i = 0, b = 0; i < cols; i += kDotBlock, ++b) {
        const int64_t n = std::min<int64_t>(kDotBlock, cols - i);
        for (int64_t l = 0; l < n; ++l) acc[b & 1][l] = std::fma(widen<F>(w[k], i + l), xt[i + l], acc[b & 1][l]);
      }
      float v[kDotBlock];
      for (int64_t l = 0; l < kDotBlock; ++l) v[l] = acc[0][l] + acc[1][l];
      const float s0 = v[0] + v[4], s1 = v[1] + v[5], s2 = v[2] + v[6], s3 = v[3] + v[7];
      y[t * ldy + k] = (s0 + s2) + (s1 + s3);
    }
  }
}

#endif

// The canonical dot product of n floats (attention scores: q . k).
inline float dot(const float* a, const float* b, int64_t n) {
  const void* rows[1] = {a};
  float y = 0.0f;
  dot_tile<WeightFormat::kF32, 1, 1>(rows, n, b, n, &y, 1);
  return y;
}

// y[i] = fma(a, x[i], y[i]) for i < n: the weighted sum of attention values, one value row at a
// time, so each output element is summed in the order of the rows.
inline void axpy(float a, const float* x, float* y, int64_t n) {
  int64_t i = 0;
#if defined(GENARM_HAVE_SIMD_KERNELS)
  const Vec av = _mm256_set1_ps(a);
  for (; i + kDotBlock <= n; i += kDotBlock) {
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  }
#endif
  for (; i < n; ++i) y[i] = std::fma(a, x[i], y[i]);
}

// axpy(a[j], rows + j * d, y, d) for j = 0, 1, ..., count - 1 (the same bits: each element summed
// by fma in the order of the rows), with 32 elements of y held in registers across all the rows
// instead of loaded and stored once per row — attention's weighted sum of a prompt's values.
inline void axpy_rows(const float* a, const float* rows, int64_t d, int64_t count, float* y) {
  int64_t i = 0;
#if defined(GENARM_HAVE_SIMD_KERNELS)
  constexpr int kSlice = 4;  // registers of y per pass over the rows
  for (; i + kSlice * kDotBlock <= d; i += kSlice * kDotBlock) {
    Vec acc[kSlice];
    GENARM_UNROLL for (int v = 0; v < kSlice; ++v) acc[v] = _mm256_loadu_ps(y + i + v * kDotBlock);
    for (int64_t j = 0; j < count; ++j) {
      const Vec av = _mm256_set1_ps(a[j]);
      const float* row = rows + j * d + i;
      GENARM_UNROLL for (int v = 0; v < kSlice; ++v) {
        acc[v] = _mm256_fmadd_ps(av, _mm256_loadu_ps(row + v * kDotBlock), acc[v]);
      }
    }
    GENARM_UNROLL for (int v = 0; v < kSlice; ++v) _mm256_storeu_ps(y + i + v * kDotBlock, acc[v]);
  }
  for (; i + kDotBlock <= d; i += kDotBlock) {
    Vec acc = _mm256_loadu_ps(y + i);
    for (int64_t j = 0; j < count; ++j) {
      acc = _mm256_fmadd_ps(_mm256_set1_ps(a[j]), _mm256_loadu_ps(rows + j * d + i), acc);
    }
    _mm256_storeu_ps(y + i, acc);
  }
#endif
  for (; i < d; ++i) {
    float acc = y[i];
    for (int64_t j = 0; j < count; ++j) acc = std::fma(a[j], rows[j * d + i], acc);
    y[i] = acc;
  }
}

#if defined(GENARM_HAVE_SIMD_KERNELS)
// exp of 8 floats: Cephes' expf (range reduction by ln 2 split in two constants, a degree-5
// polynomial, the exponent set directly), accurate to about 2 ulp on [-87.3, 88.7].
inline Vec exp8(Vec x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-88.3762626647949f)), _mm256_set1_ps(88.3762626647950f));
  Vec fx = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f));
  fx = _mm256_floor_ps(fx);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  const Vec z = _mm256_mul_ps(x, x);
  Vec y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, z, _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(fx), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}
#endif

// x[i] = exp(x[i] - shift) for i < n (softmax). Every element goes through the same code whatever
// n and its place in the array (the tail is computed as a padded block), so a row's softmax
// depends on its values only.
inline void exp_shifted(float* x, int64_t n, float shift) {
#if defined(GENARM_HAVE_SIMD_KERNELS)
  const Vec s = _mm256_set1_ps(shift);
  int64_t i = 0;
  for (; i + kDotBlock <= n; i += kDotBlock) _mm256_storeu_ps(x + i, exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), s)));
  if (i < n) {
    alignas(32) float tail[kDotBlock] = {};
    std::memcpy(tail, x + i, static_cast<size_t>(n - i) * sizeof(float));
    _mm256_store_ps(tail, exp8(_mm256_sub_ps(_mm256_load_ps(tail), s)));
    std::memcpy(x + i, tail, static_cast<size_t>(n - i) * sizeof(float));
  }
#else
  for (int64_t i = 0; i < n; ++i) x[i] = std::exp(x[i] - shift);
#endif
}

// y[i] = x[i] / (1 + exp(-x[i])) (SiLU) for i < n; x may be y. As in exp_shifted, every element
// goes through the same code whatever its place, so splitting a buffer across threads changes no bit.
inline void silu(const float* x, float* y, int64_t n) {
#if defined(GENARM_HAVE_SIMD_KERNELS)
  const Vec one = _mm256_set1_ps(1.0f);
  const auto block = [&](Vec v) { return _mm256_div_ps(v, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), v)))); };
  int64_t i = 0;
  for (; i + kDotBlock <= n; i += kDotBlock) _mm256_storeu_ps(y + i, block(_mm256_loadu_ps(x + i)));
  if (i < n) {
    alignas(32) float tail[kDotBlock] = {};
    std::memcpy(tail, x + i, static_cast<size_t>(n - i) * sizeof(float));
    _mm256_store_ps(tail, block(_mm256_load_ps(tail)));
    std::memcpy(y + i, tail, static_cast<size_t>(n - i) * sizeof(float));
  }
#else
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] / (1.0f + std::exp(-x[i]));
#endif
}

// Widens n weights to float32 (exact).
template <WeightFormat F>
void widen_row(const void* src, float* dst, int64_t n) {
  int64_t i = 0;
#if defined(GENARM_HAVE_SIMD_KERNELS)
  if constexpr (F != WeightFormat::kF32) {
    for (; i + kDotBlock <= n; i += kDotBlock) _mm256_storeu_ps(dst + i, wload<F>(src, i));
  }
#endif
  for (; i < n; ++i) dst[i] = widen<F>(src, i);
}

template <WeightFormat F, int R>
inline void dot_rows_tiled(const void* const* w, int64_t cols, const float* x, int64_t ldx, int64_t n, float* y,
                           int64_t ldy) {
  int64_t t = 0;
  for (; t + kMaxTileCols <= n; t += kMaxTileCols) {
    dot_tile<F, R, kMaxTileCols>(w, cols, x + t * ldx, ldx, y + t * ldy, ldy);
  }
  if (n - t == 2) dot_tile<F, R, 2>(w, cols, x + t * ldx, ldx, y + t * ldy, ldy);
  if (n - t == 1) dot_tile<F, R, 1>(w, cols, x + t * ldx, ldx, y + t * ldy, ldy);
}

#if defined(GENARM_HAVE_SIMD_KERNELS) && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#define GENARM_HAVE_AVX512_KERNELS 1

// AVX-512: one 16-lane accumulator per (weight row, activation row) holds the canonical order's two
// lane accumulators side by side — acc0 (even blocks) in lanes 0..7, acc1 (odd blocks) in lanes
// 8..15 — so 16 consecutive weights and activations take one multiply-add with no shuffles; a
// partial last pair of blocks is masked by whole blocks, as the 8-lane kernel pads them, and the
// result is the canonical horizontal sum of lo + hi. Same bits as dot_tile, for every n.

inline float hsum16(__m512 acc) {
  const Vec lo = _mm512_castps512_ps256(acc);
  const Vec hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1));
  return hsum8(_mm256_add_ps(lo, hi));
}

// The last rem (1..15) elements: which lanes exist, and which lanes the padded multiply-add
// touches (the whole first block, and the second one when it holds any element).
struct TailMasks {
  __mmask16 lanes, blocks;
};
inline TailMasks tail_masks(int64_t rem) {
  return {static_cast<__mmask16>((1u << rem) - 1), static_cast<__mmask16>(rem > kDotBlock ? 0xFFFF : 0x00FF)};
}

// 16 16-bit weights widened to float32 (exact).
template <WeightFormat F>
inline __m512 widen16(__m256i h) {
  if constexpr (F == WeightFormat::kF16) return _mm512_cvtph_ps(h);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// 16 weights at element i, widened to float32.
template <WeightFormat F>
inline __m512 wload16(const void* base, int64_t i) {
  if constexpr (F == WeightFormat::kF32) {
    return _mm512_loadu_ps(static_cast<const float*>(base) + i);
  } else {
    return widen16<F>(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(base) + i)));
  }
}

// The weights of lanes m from element i (the others zero), widened to float32.
template <WeightFormat F>
inline __m512 wload16_masked(const void* base, int64_t i, __mmask16 m) {
  if constexpr (F == WeightFormat::kF32) {
    return _mm512_maskz_loadu_ps(m, static_cast<const float*>(base) + i);
  } else {
    return widen16<F>(_mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(base) + i));
  }
}

inline constexpr int kDecodeTileRows = 4;  // weight rows per decoding tile (one accumulator each)

// Decoding tile: weight rows w[0..R) (consecutive rows, `stride` bytes apart) against one
// activation row; y[k] = dot(w[k], x).
//
// Prefetching: rows are short (a 896-wide BF16 row is 28 cache lines), so the hardware
// prefetchers barely train on one before it ends. Row k's slot instead streams rows k, k + R,
// k + 2R, ...; each row is prefetched `ahead` bytes further along its slot, which past the row's end
// is the same place in the next tile's row k + R. Addresses past the matrix are never dereferenced.
template <WeightFormat F, int R>
inline void decode_tile(const void* const* w, int64_t stride, int64_t cols, const float* x, float* y, int64_t ahead) {
  constexpr int64_t kPerLine = 64 / weight_size<F>();  // weights per cache line
  __m512 acc[R];
  GENARM_UNROLL for (int k = 0; k < R; ++k) acc[k] = _mm512_setzero_ps();
  const int64_t row_bytes = cols * weight_size<F>();
  int64_t i = 0;
  for (; i + kPerLine <= cols; i += kPerLine) {
    const int64_t at = i * weight_size<F>() + ahead;
    const int64_t jump = at >= row_bytes ? (R - 1) * stride : 0;
    GENARM_UNROLL for (int k = 0; k < R; ++k) _mm_prefetch(static_cast<const char*>(w[k]) + at + jump, _MM_HINT_T0);
    GENARM_UNROLL for (int64_t j = i; j < i + kPerLine; j += kLanePair) {
      const __m512 xv = _mm512_loadu_ps(x + j);
      GENARM_UNROLL for (int k = 0; k < R; ++k) acc[k] = _mm512_fmadd_ps(wload16<F>(w[k], j), xv, acc[k]);
    }
  }
  for (; i + kLanePair <= cols; i += kLanePair) {
    const __m512 xv = _mm512_loadu_ps(x + i);
    GENARM_UNROLL for (int k = 0; k < R; ++k) acc[k] = _mm512_fmadd_ps(wload16<F>(w[k], i), xv, acc[k]);
  }
  if (i < cols) {
    const TailMasks m = tail_masks(cols - i);
    const __m512 xv = _mm512_maskz_loadu_ps(m.lanes, x + i);
    GENARM_UNROLL for (int k = 0; k < R; ++k) {
      acc[k] = _mm512_mask3_fmadd_ps(wload16_masked<F>(w[k], i, m.lanes), xv, acc[k], m.blocks);
    }
  }
  GENARM_UNROLL for (int k = 0; k < R; ++k) y[k] = hsum16(acc[k]);
}

// matmul_rows for n = 1.
template <WeightFormat F>
void decode_rows(const void* w, int64_t cols, const float* x, float* y, int64_t begin, int64_t end) {
  const int64_t stride = cols * weight_size<F>();
  const int64_t ahead = std::min<int64_t>(static_cast<int64_t>(kFloatPrefetchBytes) / kDecodeTileRows, stride);
  int64_t r = begin;
  for (; r + kDecodeTileRows <= end; r += kDecodeTileRows) {
    const void* ptrs[kDecodeTileRows];
    GENARM_UNROLL for (int k = 0; k < kDecodeTileRows; ++k) ptrs[k] = row_ptr<F>(w, r + k, cols);
    decode_tile<F, kDecodeTileRows>(ptrs, stride, cols, x, y + r, ahead);
  }
  for (; r < end; ++r) {
    const void* ptrs[1] = {row_ptr<F>(w, r, cols)};
    decode_tile<F, 1>(ptrs, stride, cols, x, y + r, ahead);
  }
}

inline constexpr int kGemmTileRows = 4;  // weight rows per register tile
inline constexpr int kGemmTileCols = 6;  // activation rows per register tile (24 accumulators)

// One register tile over `len` columns: f32 weight rows w[0..R) and activation rows x + t * ldx, all
// pointing at the pass's first column. `first`: the accumulators start at zero, else from `state`;
// `last` (the row's end; len may end in a partial pair of blocks): y[t * ldy + k] is written, else
// the accumulators go back to `state` ([R][T][16] floats).
template <int R, int T>
inline void gemm_tile(const float* const* w, const float* x, int64_t ldx, int64_t len, float* state, bool first,
                      bool last, float* y, int64_t ldy) {
  __m512 acc[R][T];
  GENARM_UNROLL for (int k = 0; k < R; ++k) {
    GENARM_UNROLL for (int t = 0; t < T; ++t) {
      acc[k][t] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(state + (k * T + t) * 16);
    }
  }
  int64_t j = 0;
  for (; j + kLanePair <= len; j += kLanePair) {
    __m512 wv[R];
    GENARM_UNROLL for (int k = 0; k < R; ++k) wv[k] = _mm512_loadu_ps(w[k] + j);
    GENARM_UNROLL for (int t = 0; t < T; ++t) {
      const __m512 xv = _mm512_loadu_ps(x + t * ldx + j);
      GENARM_UNROLL for (int k = 0; k < R; ++k) acc[k][t] = _mm512_fmadd_ps(wv[k], xv, acc[k][t]);
    }
  }
  if (j < len) {
    const TailMasks m = tail_masks(len - j);
    __m512 wv[R];
    GENARM_UNROLL for (int k = 0; k < R; ++k) wv[k] = _mm512_maskz_loadu_ps(m.lanes, w[k] + j);
    GENARM_UNROLL for (int t = 0; t < T; ++t) {
      const __m512 xv = _mm512_maskz_loadu_ps(m.lanes, x + t * ldx + j);
      GENARM_UNROLL for (int k = 0; k < R; ++k) acc[k][t] = _mm512_mask3_fmadd_ps(wv[k], xv, acc[k][t], m.blocks);
    }
  }
  GENARM_UNROLL for (int k = 0; k < R; ++k) {
    GENARM_UNROLL for (int t = 0; t < T; ++t) {
      if (last) {
        y[t * ldy + k] = hsum16(acc[k][t]);
      } else {
        _mm512_storeu_ps(state + (k * T + t) * 16, acc[k][t]);
      }
    }
  }
}

#endif

// Several activation rows (batched decoding, prefill): blocked for the caches (gemm_rows here with
// AVX-512; gemm_avx2.hpp without it, on the same chunks and weight blocks). A pass covers
// kGemmChunk columns of kGemmBlockRows weight rows (their chunk stays in L2) against a block of
// activation rows (as many as keep their chunk within kGemmXBytes); each activation tile (kGemmTileCols
// rows) stays in L1 while the block's weight rows go past it. The partial sums of a longer row are kept
// in a per-thread state buffer between passes — the accumulators themselves, so the order of
// operations is unchanged. 16-bit weights are widened once per block and chunk.
inline constexpr int64_t kGemmChunk = 1024;      // columns per pass, a multiple of kLanePair
inline constexpr int64_t kGemmBlockRows = 32;    // weight rows per block
inline constexpr int64_t kGemmXBytes = 512 << 10;  // the activations' chunk of a block: at most this (L2)
#if defined(GENARM_HAVE_AVX512_KERNELS)
inline constexpr int64_t kGemmSlot = kGemmTileRows * kGemmTileCols * 16;  // floats of state per tile
static_assert(kGemmChunk % kLanePair == 0);

// gemm_tile for the last tile of a block, which may hold fewer than kGemmTileCols activation rows.
template <int R, int T = kGemmTileCols>
inline void gemm_tile_cols(int cols_in_tile, const float* const* w, const float* x, int64_t ldx, int64_t len,
                           float* state, bool first, bool last, float* y, int64_t ldy) {
  if constexpr (T > 1) {
    if (cols_in_tile < T) return gemm_tile_cols<R, T - 1>(cols_in_tile, w, x, ldx, len, state, first, last, y, ldy);
  }
  gemm_tile<R, T>(w, x, ldx, len, state, first, last, y, ldy);
}

// matmul_rows for n > 1.
template <WeightFormat F>
void gemm_rows(const void* w, int64_t cols, const float* x, int64_t ldx, int64_t n, float* y, int64_t ldy,
               int64_t begin, int64_t end) {
  // Per-thread buffers that only grow (a warm decoding loop does not allocate): the state of one
  // block's tiles (tiles of kGemmTileRows rows, then up to kGemmTileRows - 1 single rows; kGemmSlot
  // floats each) and the block's chunk of weights widened to f32.
  constexpr int64_t kRowTiles = kGemmBlockRows / kGemmTileRows + kGemmTileRows - 1;
  // Activation blocks of equal size (whole register tiles), as large as kGemmXBytes allows.
  const int64_t span = std::min(cols, kGemmChunk);
  const int64_t most = std::max<int64_t>(1, kGemmXBytes / (span * 4 * kGemmTileCols)) * kGemmTileCols;
  const int64_t count = (n + most - 1) / most;
  const int64_t block_cols = ((n + count - 1) / count + kGemmTileCols - 1) / kGemmTileCols * kGemmTileCols;
  const int64_t col_tiles = block_cols / kGemmTileCols;
  thread_local std::vector<float> state, widened;
  if (cols > kGemmChunk && state.size() < static_cast<size_t>(kRowTiles * col_tiles * kGemmSlot)) {
    state.resize(static_cast<size_t>(kRowTiles * col_tiles * kGemmSlot));
  }
  if (F != WeightFormat::kF32 && widened.size() < static_cast<size_t>(kGemmBlockRows * kGemmChunk)) {
    widened.resize(static_cast<size_t>(kGemmBlockRows * kGemmChunk));
  }
  for (int64_t t0 = 0; t0 < n; t0 += block_cols) {
    const int64_t nt = std::min(block_cols, n - t0);
    for (int64_t r0 = begin; r0 < end; r0 += kGemmBlockRows) {
      const int64_t r1 = std::min(r0 + kGemmBlockRows, end);
      for (int64_t c0 = 0; c0 < cols; c0 += kGemmChunk) {
        const int64_t len = std::min(kGemmChunk, cols - c0);
        const bool first = c0 == 0, last = c0 + len == cols;
        // The block's rows at this chunk (16-bit rows widened once into `widened`).
        const float* ptrs[kGemmBlockRows];
        for (int64_t r = r0; r < r1; ++r) {
          const void* row = row_ptr<F>(w, r, cols);
          if constexpr (F == WeightFormat::kF32) {
            ptrs[r - r0] = static_cast<const float*>(row) + c0;
          } else {
            float* dst = widened.data() + (r - r0) * kGemmChunk;
            widen_row<F>(static_cast<const uint16_t*>(row) + c0, dst, len);
            ptrs[r - r0] = dst;
          }
        }
        // Each activation tile stays in L1 while the block's weight rows (L2) go past it.
        for (int64_t t = 0; t < nt; t += kGemmTileCols) {
          const int tc = static_cast<int>(std::min<int64_t>(kGemmTileCols, nt - t));
          const float* xt = x + (t0 + t) * ldx + c0;
          int64_t tile = 0;
          for (int64_t r = r0; r < r1; ++tile) {
            const int rows = r1 - r >= kGemmTileRows ? kGemmTileRows : 1;
            // Rows of one pass keep no state (and the buffer may be smaller than this call's tiles).
            float* st = first && last ? nullptr : state.data() + (tile * col_tiles + t / kGemmTileCols) * kGemmSlot;
            float* yt = y + (t0 + t) * ldy + r;
            if (rows == kGemmTileRows) {
              gemm_tile_cols<kGemmTileRows>(tc, ptrs + (r - r0), xt, ldx, len, st, first, last, yt, ldy);
            } else {
              gemm_tile_cols<1>(tc, ptrs + (r - r0), xt, ldx, len, st, first, last, yt, ldy);
            }
            r += rows;
          }
        }
      }
    }
  }
}
#endif

}  // namespace genarm::model::detail
