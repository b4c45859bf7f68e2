// 8-bit and 4-bit weights in llama.cpp's Q8_0 / Q4_0 blocks (formats, rounding and padding:
// quant_ref.hpp), repacked into panels of 16 rows (quant_panel.hpp), and the kernels that decode
// with them: activations are quantised to Q8_0 rows, then y = W x is computed from exact integer
// block dot products, as ggml does on the CPU.
//
//   quantize_row_q8_0(x, cols, out)       activations (and Q8_0 weights): AVX2 or portable, same bits
//   quantize_row_q4_0(x, cols, out)       Q4_0 weights (portable; once at load)
//   dequantize_row_q8_0 / _q4_0           back to float
//   q8_0_matmul / q4_0_matmul             y[t * ldy + r] = dot(W row r, X row t) for r in
//                                         [row_begin, row_end), t in [0, n)
//
// X (xq) is n rows of quant_blocks(cols) Q8_0 blocks, contiguous (row t starts at xq + t * blocks).
// Each call reads each weight panel from memory once, whatever n: panels are the outer loop and the
// activation rows go past each panel in tiles (up to 8 rows with AVX-512, 4 with AVX2), each
// weight block unpacked once per tile while the panel stays in L1/L2.
//
// Batch invariance: y[t, r] has the same bits whatever n, whatever tile row t falls in, and
// whatever split of [row_begin, row_end) the threads use, because every (r, t) pair runs the same
// operations in the same order, independent of the others:
//   acc = 0
//   for each block b = 0, 1, ... in order:
//     p   = sum over j < 32 of w[j] * x[j]                    (int32, exact; |p| < 2^24)
//     s   = float(d_w[b]) * float(d_x[b])                     (exact: two 11-bit significands)
//     acc = fma(s, float(p), acc)                             (float32, one rounding)
//   y = acc
// The portable kernel (quant_scalar.hpp) performs these same operations, so the AVX-512
// (quant_avx512.hpp), AVX2 (with or without VNNI) and portable paths agree bit for bit, whatever the
// compiler's -ffp-contract: the one multiply-add is an explicit FMA and s only feeds it.
// Values must lie in [-127, 127] for activations (what the quantiser produces) and [-128, 127] for
// Q8_0 weights.
//
// Scratch: the kernels tabulate the activation scales as float and -bias * sum(x) per block once per
// call into a thread-local buffer of n * blocks * 8 bytes; it grows on a thread's first larger call
// and is then reused. The portable path uses std::fma: build with FMA hardware (-mfma or
// -march=...) or it is a library call per lane.
// Thread-safety: thread-safe (scratch is per thread).
#pragma once

#include <cstdint>

#include "genarm/model/detail/quant_avx2.hpp"
#include "genarm/model/detail/quant_avx512.hpp"
#include "genarm/model/detail/quant_panel.hpp"
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

inline void q8_0_matmul(const QuantPanels<QuantKind::kQ8_0>& w, const BlockQ8_0* xq, int64_t n, float* y, int64_t ldy,
                        int64_t row_begin, int64_t row_end) {
  quant_native::matmul_panels(w, xq, n, y, ldy, row_begin, row_end);
}
inline void q4_0_matmul(const QuantPanels<QuantKind::kQ4_0>& w, const BlockQ8_0* xq, int64_t n, float* y, int64_t ldy,
                        int64_t row_begin, int64_t row_end) {
  quant_native::matmul_panels(w, xq, n, y, ldy, row_begin, row_end);
}

}  // namespace genarm::model::detail
