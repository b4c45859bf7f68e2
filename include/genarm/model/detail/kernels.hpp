// Weight kernels of the forward pass: Y[t, r] = dot(W[r, :], X[t, :]) for a range of weight rows r
// and n activation rows t, W row-major in F32, F16 or BF16 (16-bit weights are widened to float32
// exactly: in registers, or into a small per-thread buffer when the widened row is reused),
// float32 accumulation. Decode (n = 1), batched decode (n = the sequences of a step) and prefill
// (n = a chunk of prompt tokens) all run this one kernel, and each weight row is read from memory
// once per call whatever n is.
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
// With AVX-512F, several activation rows (n > 1) go through 16-lane registers holding two rows'
// blocks side by side (a weight block broadcast to both halves): each half performs exactly the
// 8-lane operations of the canonical order, so the results are the AVX2 kernel's bits, at twice
// the multiply-adds per instruction.
// Thread-safety: pure functions (the widening buffer is per thread).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "genarm/core/half.hpp"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define GENARM_HAVE_SIMD_KERNELS 1
#endif

namespace genarm::model::detail {

enum class WeightFormat { kF32, kF16, kBF16 };

inline constexpr int64_t kDotBlock = 8;  // elements per block of the canonical dot order
inline constexpr int kMaxTileRows = 2;   // weight rows per register tile
inline constexpr int kMaxTileCols = 3;   // activation rows per register tile

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
// y[t * ldy + k] = dot(w[k], x[t]). 2 * R * T accumulators; each weight block is loaded once.
template <WeightFormat F, int R, int T>
inline void dot_tile(const void* const* w, int64_t cols, const float* x, int64_t ldx, float* y, int64_t ldy) {
  Vec acc0[R][T], acc1[R][T];
  for (int k = 0; k < R; ++k) {
    for (int t = 0; t < T; ++t) acc0[k][t] = acc1[k][t] = _mm256_setzero_ps();
  }
  int64_t i = 0;
  for (; i + 2 * kDotBlock <= cols; i += 2 * kDotBlock) {
    if constexpr (T == 1) {
      // Decoding streams the weights once; see kFloatPrefetchBytes.
      for (int k = 0; k < R; ++k) {
        _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(w[k]) +
                                                   static_cast<uintptr_t>(i * weight_size<F>()) + kFloatPrefetchBytes),
                     _MM_HINT_T0);
      }
    }
    Vec wv[R];
    for (int k = 0; k < R; ++k) wv[k] = wload<F>(w[k], i);
    for (int t = 0; t < T; ++t) {
      const Vec xv = _mm256_loadu_ps(x + t * ldx + i);
      for (int k = 0; k < R; ++k) acc0[k][t] = _mm256_fmadd_ps(wv[k], xv, acc0[k][t]);
    }
    for (int k = 0; k < R; ++k) wv[k] = wload<F>(w[k], i + kDotBlock);
    for (int t = 0; t < T; ++t) {
      const Vec xv = _mm256_loadu_ps(x + t * ldx + i + kDotBlock);
      for (int k = 0; k < R; ++k) acc1[k][t] = _mm256_fmadd_ps(wv[k], xv, acc1[k][t]);
    }
  }
  bool odd = false;  // the next block's index is odd (it goes to acc1)
  if (i + kDotBlock <= cols) {
    Vec wv[R];
    for (int k = 0; k < R; ++k) wv[k] = wload<F>(w[k], i);
    for (int t = 0; t < T; ++t) {
      const Vec xv = _mm256_loadu_ps(x + t * ldx + i);
      for (int k = 0; k < R; ++k) acc0[k][t] = _mm256_fmadd_ps(wv[k], xv, acc0[k][t]);
    }
    i += kDotBlock;
    odd = true;
  }
  if (i < cols) {
    const int64_t rem = cols - i;
    const __m256i mask = tail_mask(rem);
    Vec wv[R];
    for (int k = 0; k < R; ++k) wv[k] = wload_tail<F>(w[k], i, rem);
    for (int t = 0; t < T; ++t) {
      const Vec xv = _mm256_maskload_ps(x + t * ldx + i, mask);
      for (int k = 0; k < R; ++k) {
        if (odd) {
          acc1[k][t] = _mm256_fmadd_ps(wv[k], xv, acc1[k][t]);
        } else {
          acc0[k][t] = _mm256_fmadd_ps(wv[k], xv, acc0[k][t]);
        }
      }
    }
  }
  for (int k = 0; k < R; ++k) {
    for (int t = 0; t < T; ++t) y[t * ldy + k] = hsum(acc0[k][t], acc1[k][t]);
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

#if defined(GENARM_HAVE_SIMD_KERNELS) && defined(__AVX512F__)
#define GENARM_HAVE_PAIR_KERNELS 1

inline constexpr int kPairTileRows = 4;   // weight rows per 16-lane register tile
inline constexpr int kPairTileCols = 3;   // activation pairs (6 rows) per tile

// Activation rows packed in pairs for the 16-lane tiles: pair p, block b is 16 floats — block b of
// row 2p, then block b of row 2p + 1 — zero-padded to whole blocks (and a missing odd row to 0).
// (ceil(n / 2), blocks * 16) floats.
inline void pack_pairs(const float* x, int64_t ldx, int64_t n, int64_t cols, float* out) {
  const int64_t blocks = (cols + kDotBlock - 1) / kDotBlock;
  for (int64_t p = 0; p < (n + 1) / 2; ++p) {
    float* dst = out + p * blocks * 2 * kDotBlock;
    for (int half = 0; half < 2; ++half) {
      const int64_t t = 2 * p + half;
      for (int64_t b = 0; b < blocks; ++b) {
        float* d = dst + b * 2 * kDotBlock + half * kDotBlock;
        const int64_t i = b * kDotBlock, m = t < n ? std::min<int64_t>(kDotBlock, cols - i) : 0;
        if (m > 0) std::memcpy(d, x + t * ldx + i, static_cast<size_t>(m) * sizeof(float));
        std::fill(d + m, d + kDotBlock, 0.0f);
      }
    }
  }
}

// One 16-lane tile: f32 rows w[0..R) against P packed pairs (pair stride `lpp` floats);
// y[t * ldy + k] for the 2P activation rows t (those < n_rows).
template <int R, int P>
inline void dot_pair_tile(const float* const* w, int64_t cols, const float* xp, int64_t lpp, float* y, int64_t ldy,
                          int64_t n_rows) {
  __m512 acc0[R][P], acc1[R][P];
  for (int k = 0; k < R; ++k) {
    for (int p = 0; p < P; ++p) acc0[k][p] = acc1[k][p] = _mm512_setzero_ps();
  }
  const int64_t full = cols / kDotBlock;  // whole blocks; a partial last block is masked below
  int64_t b = 0;
  for (; b + 2 <= full; b += 2) {
    __m512 wv[R];
    for (int k = 0; k < R; ++k) wv[k] = _mm512_broadcast_f32x8(_mm256_loadu_ps(w[k] + b * kDotBlock));
    for (int p = 0; p < P; ++p) {
      const __m512 xv = _mm512_loadu_ps(xp + p * lpp + b * 2 * kDotBlock);
      for (int k = 0; k < R; ++k) acc0[k][p] = _mm512_fmadd_ps(wv[k], xv, acc0[k][p]);
    }
    for (int k = 0; k < R; ++k) wv[k] = _mm512_broadcast_f32x8(_mm256_loadu_ps(w[k] + (b + 1) * kDotBlock));
    for (int p = 0; p < P; ++p) {
      const __m512 xv = _mm512_loadu_ps(xp + p * lpp + (b + 1) * 2 * kDotBlock);
      for (int k = 0; k < R; ++k) acc1[k][p] = _mm512_fmadd_ps(wv[k], xv, acc1[k][p]);
    }
  }
  const int64_t rem = cols - full * kDotBlock;
  for (; b < full + (rem > 0 ? 1 : 0); ++b) {  // at most two blocks: one whole, one partial
    __m512 wv[R];
    const __m256i mask = tail_mask(b < full ? kDotBlock : rem);
    for (int k = 0; k < R; ++k) wv[k] = _mm512_broadcast_f32x8(_mm256_maskload_ps(w[k] + b * kDotBlock, mask));
    for (int p = 0; p < P; ++p) {
      const __m512 xv = _mm512_loadu_ps(xp + p * lpp + b * 2 * kDotBlock);
      for (int k = 0; k < R; ++k) {
        if (b & 1) {
          acc1[k][p] = _mm512_fmadd_ps(wv[k], xv, acc1[k][p]);
        } else {
          acc0[k][p] = _mm512_fmadd_ps(wv[k], xv, acc0[k][p]);
        }
      }
    }
  }
  for (int k = 0; k < R; ++k) {
    for (int p = 0; p < P; ++p) {
      const __m512 v = _mm512_add_ps(acc0[k][p], acc1[k][p]);
      const Vec lo = _mm512_castps512_ps256(v);
      const Vec hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
      y[2 * p * ldy + k] = hsum8(lo);
      if (2 * p + 1 < n_rows) y[(2 * p + 1) * ldy + k] = hsum8(hi);
    }
  }
}

template <int R>
inline void dot_pairs_tiled(const float* const* w, int64_t cols, const float* xp, int64_t lpp, int64_t n, float* y,
                            int64_t ldy) {
  const int64_t pairs = (n + 1) / 2;
  int64_t p = 0;
  for (; p + kPairTileCols <= pairs; p += kPairTileCols) {
    dot_pair_tile<R, kPairTileCols>(w, cols, xp + p * lpp, lpp, y + 2 * p * ldy, ldy, n - 2 * p);
  }
  if (pairs - p == 2) dot_pair_tile<R, 2>(w, cols, xp + p * lpp, lpp, y + 2 * p * ldy, ldy, n - 2 * p);
  if (pairs - p == 1) dot_pair_tile<R, 1>(w, cols, xp + p * lpp, lpp, y + 2 * p * ldy, ldy, n - 2 * p);
}

// matmul_rows for n > 1 on 16-lane registers (same bits as the 8-lane tiles).
template <WeightFormat F>
void matmul_rows_pairs(const void* w, int64_t cols, const float* x, int64_t ldx, int64_t n, float* y, int64_t ldy,
                       int64_t begin, int64_t end) {
  const int64_t lpp = (cols + kDotBlock - 1) / kDotBlock * 2 * kDotBlock;  // floats per packed pair
  // Per-thread buffers that only grow (a warm decoding loop does not allocate): the packed
  // activations ((n + 1) / 2, lpp) and, for 16-bit weights, kPairTileRows rows widened to f32.
  thread_local std::vector<float> packed, widened;
  const size_t packed_size = static_cast<size_t>((n + 1) / 2 * lpp);
  if (packed.size() < packed_size) packed.resize(packed_size);
  pack_pairs(x, ldx, n, cols, packed.data());
  if (F != WeightFormat::kF32 && widened.size() < static_cast<size_t>(kPairTileRows * cols)) {
    widened.resize(static_cast<size_t>(kPairTileRows * cols));
  }
  for (int64_t r = begin; r < end;) {
    const int rows = end - r >= kPairTileRows ? kPairTileRows : 1;
    const float* ptrs[kPairTileRows];
    for (int k = 0; k < rows; ++k) {
      if constexpr (F == WeightFormat::kF32) {
        ptrs[k] = static_cast<const float*>(row_ptr<F>(w, r + k, cols));
      } else {
        widen_row<F>(row_ptr<F>(w, r + k, cols), widened.data() + k * cols, cols);
        ptrs[k] = widened.data() + k * cols;
      }
    }
    if (rows == kPairTileRows) {
      dot_pairs_tiled<kPairTileRows>(ptrs, cols, packed.data(), lpp, n, y + r, ldy);
    } else {
      dot_pairs_tiled<1>(ptrs, cols, packed.data(), lpp, n, y + r, ldy);
    }
    r += rows;
  }
}
#endif

// y[t * ldy + r] = dot(W[r, :], x[t * ldx, ...]) for r in [begin, end), t in [0, n).
template <WeightFormat F>
void matmul_rows(const void* w, int64_t cols, const float* x, int64_t ldx, int64_t n, float* y, int64_t ldy,
                 int64_t begin, int64_t end) {
#if defined(GENARM_HAVE_PAIR_KERNELS)
  if (n > 1) return matmul_rows_pairs<F>(w, cols, x, ldx, n, y, ldy, begin, end);
#endif
  // 16-bit rows used by several activation rows are widened once into this buffer (reused; it only
  // grows, so a warm decoding loop does not allocate).
  thread_local std::vector<float> widened;
  const bool widen_first = F != WeightFormat::kF32 && n > 1;
  if (widen_first && widened.size() < static_cast<size_t>(kMaxTileRows * cols)) {
    widened.resize(static_cast<size_t>(kMaxTileRows * cols));
  }
  for (int64_t r = begin; r < end; r += kMaxTileRows) {
    const int rows = end - r >= kMaxTileRows ? kMaxTileRows : 1;
    const void* ptrs[kMaxTileRows];
    for (int k = 0; k < rows; ++k) ptrs[k] = row_ptr<F>(w, r + k, cols);
    if (widen_first) {
      for (int k = 0; k < rows; ++k) {
        widen_row<F>(ptrs[k], widened.data() + k * cols, cols);
        ptrs[k] = widened.data() + k * cols;
      }
      if (rows == kMaxTileRows) {
        dot_rows_tiled<WeightFormat::kF32, kMaxTileRows>(ptrs, cols, x, ldx, n, y + r, ldy);
      } else {
        dot_rows_tiled<WeightFormat::kF32, 1>(ptrs, cols, x, ldx, n, y + r, ldy);
      }
    } else if (rows == kMaxTileRows) {
      dot_rows_tiled<F, kMaxTileRows>(ptrs, cols, x, ldx, n, y + r, ldy);
    } else {
      dot_rows_tiled<F, 1>(ptrs, cols, x, ldx, n, y + r, ldy);
    }
  }
}

}  // namespace genarm::model::detail
