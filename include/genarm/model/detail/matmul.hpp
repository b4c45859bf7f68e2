// matmul_rows: Y[t, r] = dot(W[r, :], X[t, :]) for a range of weight rows, choosing the kernel
// for n and the instruction set — all of them in the canonical dot order of kernels.hpp, so the
// choice never changes a bit. Decoding (n = 1) streams rows through dot_tile (AVX2: 16-bit rows
// one at a time, F32 rows in pairs; AVX-512: decode_rows). n > 1 runs the cache-blocked gemm_rows
// (AVX-512: kernels.hpp; AVX2: gemm_avx2.hpp from kPanelMinRows rows on); a few rows on AVX2, and
// any n in the portable build, tile dot_tile over the activation rows.
// Thread-safety: pure functions (buffers are per thread).
#pragma once

#include <cstdint>
#include <vector>

#include "genarm/model/detail/gemm_avx2.hpp"
#include "genarm/model/detail/kernels.hpp"

namespace genarm::model::detail {

// y[t * ldy + r] = dot(W[r, :], x[t * ldx, ...]) for r in [begin, end), t in [0, n).
template <WeightFormat F>
void matmul_rows(const void* w, int64_t cols, const float* x, int64_t ldx, int64_t n, float* y, int64_t ldy,
                 int64_t begin, int64_t end) {
#if defined(GENARM_HAVE_AVX512_KERNELS)
  if (n == 1) return decode_rows<F>(w, cols, x, y, begin, end);
  if (n > 1) return gemm_rows<F>(w, cols, x, ldx, n, y, ldy, begin, end);
#elif defined(GENARM_HAVE_SIMD_KERNELS)
  if (F != WeightFormat::kF32 && n == 1) {
    // Decoding 16-bit rows: one at a time. A single stream (prefetched kFloatPrefetchBytes ahead)
    // drew 14-17 GB/s of F16/BF16 rows on Zen 3 where pairs of rows drew 10.5-13.8, and decoding
    // (genarm_model_bench tg128) went 20-38% faster; F32 rows stay in pairs (7% slower alone).
    for (int64_t r = begin; r < end; ++r) {
      const void* row = row_ptr<F>(w, r, cols);
      dot_tile<F, 1, 1>(&row, cols, x, ldx, y + r, ldy);
    }
    return;
  }
  if (n >= kPanelMinRows) return gemm_rows<F>(w, cols, x, ldx, n, y, ldy, begin, end);
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

// scores[j] = dot(q, rows + j * d, d) for j < count (the same bits): one query against consecutive
// keys, through matmul_rows' tiles (with AVX-512, 16 lanes and four keys at a time).
inline void dot_rows(const float* q, const float* rows, int64_t d, int64_t count, float* scores) {
  matmul_rows<WeightFormat::kF32>(rows, d, q, d, 1, scores, 1, 0, count);
}

}  // namespace genarm::model::detail
