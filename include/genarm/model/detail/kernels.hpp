// Matrix-vector kernels for the decode step: y[r] = sum_c W[r, c] x[c] over rows [begin, end) of a
// row-major matrix stored as F32, F16 or BF16 (16-bit weights are widened to float32 in registers,
// so a step reads half the bytes), one row at a time. AVX-512 and AVX2/FMA/F16C paths when the compiler targets them, a portable
// fallback otherwise; all accumulate in float32.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <cstring>

#include "genarm/core/half.hpp"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

namespace genarm::model::detail {

enum class WeightFormat { kF32, kF16, kBF16 };

#if defined(__AVX512F__)
using Vec = __m512;
inline constexpr int kLanes = 16;
inline Vec vzero() { return _mm512_setzero_ps(); }
inline Vec vload(const float* p) { return _mm512_loadu_ps(p); }
inline Vec vfma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline float vsum(Vec v) { return _mm512_reduce_add_ps(v); }
template <WeightFormat F>
inline Vec wload(const void* base, int64_t i) {
  if constexpr (F == WeightFormat::kF32) {
    return _mm512_loadu_ps(static_cast<const float*>(base) + i);
  } else if constexpr (F == WeightFormat::kF16) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(base) + i)));
  } else {
    const __m512i w = _mm512_cvtepu16_epi32(
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(base) + i)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
  }
}
#define GENARM_HAVE_SIMD_KERNELS 1
#elif defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
using Vec = __m256;
inline constexpr int kLanes = 8;
inline Vec vzero() { return _mm256_setzero_ps(); }
inline Vec vload(const float* p) { return _mm256_loadu_ps(p); }
inline Vec vfma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline float vsum(Vec v) {
  __m128 lo = _mm256_castps256_ps128(v);
  lo = _mm_add_ps(lo, _mm256_extractf128_ps(v, 1));
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}
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
#define GENARM_HAVE_SIMD_KERNELS 1
#endif

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

template <WeightFormat F>
inline const void* row_ptr(const void* w, int64_t r, int64_t cols) {
  constexpr int64_t kSize = F == WeightFormat::kF32 ? 4 : 2;
  return static_cast<const char*>(w) + r * cols * kSize;
}

template <WeightFormat F>
void matvec_rows(const void* w, int64_t cols, const float* x, float* y, int64_t begin, int64_t end) {
#if defined(GENARM_HAVE_SIMD_KERNELS)
  // One row at a time, four independent accumulators: a single sequential weight stream is what
  // the hardware prefetcher follows best. Interleaving 2 or 4 rows (to reuse each load of x) was
  // measured slower on AMD EPYC: 10-13 GB/s against 16.7 GB/s for one stream, the speed of a plain
  // sum over the same matrices.
  const int64_t body = cols - cols % (4 * kLanes);
  const int64_t pairs = cols - cols % kLanes;
  for (int64_t r = begin; r < end; ++r) {
    const void* w0 = row_ptr<F>(w, r, cols);
    Vec a = vzero(), b = vzero(), c = vzero(), d = vzero();
    int64_t i = 0;
    for (; i < body; i += 4 * kLanes) {
      a = vfma(wload<F>(w0, i), vload(x + i), a);
      b = vfma(wload<F>(w0, i + kLanes), vload(x + i + kLanes), b);
      c = vfma(wload<F>(w0, i + 2 * kLanes), vload(x + i + 2 * kLanes), c);
      d = vfma(wload<F>(w0, i + 3 * kLanes), vload(x + i + 3 * kLanes), d);
    }
    for (; i < pairs; i += kLanes) a = vfma(wload<F>(w0, i), vload(x + i), a);
    float s = vsum(a) + vsum(b) + vsum(c) + vsum(d);
    for (; i < cols; ++i) s += widen<F>(w0, i) * x[i];
    y[r] = s;
  }
#else
  for (int64_t r = begin; r < end; ++r) {
    const void* w0 = row_ptr<F>(w, r, cols);
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= cols; i += 8) {
      for (int j = 0; j < 8; ++j) acc[j] += widen<F>(w0, i + j) * x[i + j];
    }
    float s = 0.0f;
    for (float a : acc) s += a;
    for (; i < cols; ++i) s += widen<F>(w0, i) * x[i];
    y[r] = s;
  }
#endif
}

// Widens n 16-bit values to float32.
template <WeightFormat F>
void widen_row(const void* src, float* dst, int64_t n) {
  int64_t i = 0;
#if defined(GENARM_HAVE_SIMD_KERNELS)
  if constexpr (F != WeightFormat::kF32) {
    for (; i + kLanes <= n; i += kLanes) {
#if defined(__AVX512F__)
      _mm512_storeu_ps(dst + i, wload<F>(src, i));
#else
      _mm256_storeu_ps(dst + i, wload<F>(src, i));
#endif
    }
  }
#endif
  for (; i < n; ++i) dst[i] = widen<F>(src, i);
}

}  // namespace genarm::model::detail
