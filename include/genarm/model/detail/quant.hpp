// 8-bit and 4-bit weights in llama.cpp's Q8_0 / Q4_0 block layouts (formats, rounding and padding:
// quant_ref.hpp), and the kernels that decode with them: activations are quantised to Q8_0 rows,
// then y = W x is computed from integer block dot products, as ggml does on the CPU.
//
//   quantize_row_q8_0(x, cols, out)       activations (and Q8_0 weights): AVX2 or portable, same bits
//   quantize_row_q4_0(x, cols, out)       Q4_0 weights (portable; once at load)
//   dequantize_row_q8_0 / _q4_0           back to float
//   q8_0_matmul_rows / q4_0_matmul_rows   y[t * ldy + r] = dot(W row r, X row t) for r in
//                                         [row_begin, row_end), t in [0, n)
//
// Layouts: W is rows x quant_blocks(cols) blocks, row-major; X (xq) is n rows of the same number of
// Q8_0 blocks, contiguous (row t starts at xq + t * blocks_per_row). Blocks need only 2-byte
// alignment. Each call reads each weight row from memory once, whatever n: weight rows are the outer
// loop (for n > 4 in groups of ~8 KiB of weights), and the activation rows go through in tiles of 4
// (then 3, 2 or 1), every weight block being unpacked once per tile while the row (group) stays in
// L1/L2. Weight blocks are prefetched 8 KiB ahead of use, a single sequential stream.
//
// Batch invariance: y[t, r] has the same bits whatever n, whatever tile row t falls in, and
// whatever split of [row_begin, row_end) the threads use, because every (r, t) pair runs the same
// operations in the same order, independent of the others:
//   for each block b = 0, 1, ... in order:
//     p[k] = sum of w[j] * x[j] over j in 4k .. 4k+3, k = 0..7        (int32, exact)
//     s    = float(d_w[b]) * float(d_x[b])                             (one float multiply)
//     acc[b % 2][k] = fma(s, float(p[k]), acc[b % 2][k])               (float32, one rounding)
//   v[k] = acc[0][k] + acc[1][k]; h[i] = v[i + 4] + v[i];  y = (h[0] + h[2]) + (h[1] + h[3])
// (p[k] is exact and |p[k]| < 2^24, so float(p[k]) is exact too.) The portable kernel
// (quant_scalar.hpp) performs these same operations, so the AVX-512 (quant_avx512.hpp: register
// tiles of 4 weight rows x 4 activation rows for prompts and batches), AVX2 (with or without
// AVX-VNNI) and portable paths agree bit for bit, whatever the compiler's -ffp-contract: every multiply-add is an
// explicit FMA and the one other product (s) only feeds an FMA's multiplicand.
// Values must lie in [-127, 127] for activations (what the quantiser produces) and [-128, 127] for
// Q8_0 weights; the sign trick relies on it.
//
// Scratch: the AVX2 kernels convert the activation scales to float (and, for Q4_0, tabulate
// -8 * sum(x) per lane) once per call into a thread-local buffer of n * blocks_per_row * 4 bytes
// (+ 32 bytes per block for Q4_0); it grows on a thread's first larger call and is then reused.
// The portable path needs no scratch, but uses std::fma: build with FMA hardware (-mfma or
// -march=...) or it is a library call per lane.
// Thread-safety: thread-safe (scratch is per thread).
#pragma once

#include <cstdint>

#include "genarm/model/detail/quant_avx2.hpp"
#include "genarm/model/detail/quant_avx512.hpp"
#include "genarm/model/detail/quant_ref.hpp"
#include "genarm/model/detail/quant_scalar.hpp"

namespace genarm::model::detail {

#if defined(GENARM_QUANT_AVX512)
namespace quant_native = quant_avx512;
#elif defined(GENARM_QUANT_AVX2)
namespace quant_native = quant_avx2;
#else
namespace quant_native = quant_scalar;
#endif

// Bytes of one row of `cols` elements.
constexpr int64_t q8_0_row_bytes(int64_t cols) { return quant_blocks(cols) * static_cast<int64_t>(sizeof(BlockQ8_0)); }
constexpr int64_t q4_0_row_bytes(int64_t cols) { return quant_blocks(cols) * static_cast<int64_t>(sizeof(BlockQ4_0)); }

inline void quantize_row_q8_0(const float* x, int64_t cols, BlockQ8_0* out) {
  quant_native::quantize_row_q8_0(x, cols, out);
}
inline void quantize_row_q4_0(const float* x, int64_t cols, BlockQ4_0* out) {
  quant_ref::quantize_row_q4_0(x, cols, out);
}

// n activation rows (row t at x + t * ldx) into n * quant_blocks(cols) contiguous blocks.
inline void quantize_rows_q8_0(const float* x, int64_t n, int64_t ldx, int64_t cols, BlockQ8_0* out) {
  const int64_t blocks = quant_blocks(cols);
  for (int64_t t = 0; t < n; ++t) quantize_row_q8_0(x + t * ldx, cols, out + t * blocks);
}

inline void q8_0_matmul_rows(const BlockQ8_0* w, int64_t blocks_per_row, const BlockQ8_0* xq, int64_t n, float* y,
                             int64_t ldy, int64_t row_begin, int64_t row_end) {
  quant_native::q8_0_matmul_rows(w, blocks_per_row, xq, n, y, ldy, row_begin, row_end);
}
inline void q4_0_matmul_rows(const BlockQ4_0* w, int64_t blocks_per_row, const BlockQ8_0* xq, int64_t n, float* y,
                             int64_t ldy, int64_t row_begin, int64_t row_end) {
  quant_native::q4_0_matmul_rows(w, blocks_per_row, xq, n, y, ldy, row_begin, row_end);
}

}  // namespace genarm::model::detail
