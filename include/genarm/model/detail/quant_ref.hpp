// Q8_0 and Q4_0 weight blocks in llama.cpp's (ggml's) layout, and their portable quantisers and
// dequantisers. Quantisation reproduces ggml's reference functions (ggml/src/ggml-quants.c:
// quantize_row_q8_0_ref, quantize_row_q4_0_ref) bit for bit on finite input, including the fp16
// rounding of the scale, so a GGUF file's Q8_0/Q4_0 tensors can be used as stored.
//
//   BlockQ8_0 (34 bytes): d = fp16 scale, qs[j] = round(x[j] / d) in [-127, 127], d = amax / 127.
//   BlockQ4_0 (18 bytes): d = fp16 scale, element j in the low nibble of qs[j], element j + 16 in the
//     high nibble; value = (q - 8) * d, d = -max / 8 where max is the element of largest magnitude
//     (the first one on ties), so that element is stored as q = 0 exactly.
//
// Rows of `cols` elements take ceil(cols / 32) blocks; the last block of a row whose length is not a
// multiple of 32 is quantised as if the missing elements were 0 (they are stored as q = 0 in Q8_0 and
// q = 8 in Q4_0, i.e. value 0, and contribute exactly 0 to every dot product). GGUF itself only has
// rows that are multiples of 32; for those the bytes are the same.
//
// Inputs the reference leaves undefined (it converts inf or NaN to an integer) get a defined result:
//   - a block holding any inf or NaN is stored as d = fp16 quiet NaN (0x7e00), every value 0, so
//     every product with it is NaN (as the float product would be);
//   - a block so small that 1/d overflows float (amax below about 3.7e-37 for Q8_0) is stored with
//     every value 0; its fp16 scale is 0 in both, so it dequantises to zeros either way.
// Blocks whose scale exceeds fp16's range (Q8_0 amax above 65504 * 127, Q4_0 above 65504 * 8) get
// d = inf exactly as in ggml: the format cannot hold them.
// Thread-safety: pure functions, thread-safe.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "genarm/core/half.hpp"

namespace genarm::model::detail {

inline constexpr int64_t kQuantBlock = 32;  // elements per block: ggml's QK8_0 == QK4_0

struct BlockQ8_0 {
  uint16_t d;              // fp16 scale
  int8_t qs[kQuantBlock];  // values in [-127, 127]
};
struct BlockQ4_0 {
  uint16_t d;                   // fp16 scale
  uint8_t qs[kQuantBlock / 2];  // element j: qs[j] & 15, element j + 16: qs[j] >> 4; value (q - 8) * d
};
static_assert(sizeof(BlockQ8_0) == 34 && alignof(BlockQ8_0) == 2, "ggml block_q8_0 layout");
static_assert(sizeof(BlockQ4_0) == 18 && alignof(BlockQ4_0) == 2, "ggml block_q4_0 layout");

inline constexpr uint16_t kQuantNaNScale = 0x7e00;  // fp16 quiet NaN: the scale of a non-finite block

// Blocks in a row of `cols` elements (the last one zero-padded).
constexpr int64_t quant_blocks(int64_t cols) { return (cols + kQuantBlock - 1) / kQuantBlock; }

namespace quant_ref {

// Returns v unchanged, but hidden from the optimiser: `opaque(a * b) + c` is two roundings, never
// one FMA. ggml's reference rounds the product first; GCC contracts across statements by default.
inline float opaque(float v) {
#if defined(__GNUC__) && (defined(__SSE2__) || defined(__x86_64__))
  asm("" : "+x"(v));
#elif defined(__GNUC__) && defined(__aarch64__)
  asm("" : "+w"(v));
#else
  volatile float t = v;
  v = t;
#endif
  return v;
}

// max |x[j]| as float bits; >= 0x7f800000 when some element is inf or NaN. For finite input this is
// ggml's MAX(amax, fabsf(v)) loop: the bit patterns of non-negative floats order like their values.
inline uint32_t amax_bits(const float* x) {
  uint32_t m = 0;
  for (int64_t j = 0; j < kQuantBlock; ++j) m = std::max(m, std::bit_cast<uint32_t>(x[j]) & 0x7fffffffu);
  return m;
}

// 1/d, or 0 when d is 0 (ggml) or when 1/d overflows (our policy; ggml is undefined there).
inline float inverse_scale(float d) {
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  return std::isinf(id) ? 0.0f : id;
}

// quantize_row_q8_0_ref on one block of 32.
inline void quantize_block_q8_0(const float* x, BlockQ8_0& out) {
  const uint32_t bits = amax_bits(x);
  if (bits >= 0x7f800000u) {
    out.d = kQuantNaNScale;
    std::memset(out.qs, 0, sizeof(out.qs));
    return;
  }
  const float d = std::bit_cast<float>(bits) / 127.0f;
  const float id = inverse_scale(d);
  out.d = float_to_f16(d);
  for (int64_t j = 0; j < kQuantBlock; ++j) out.qs[j] = static_cast<int8_t>(std::roundf(x[j] * id));
}

// quantize_row_q4_0_ref on one block of 32.
inline void quantize_block_q4_0(const float* x, BlockQ4_0& out) {
  if (amax_bits(x) >= 0x7f800000u) {
    out.d = kQuantNaNScale;
    std::memset(out.qs, 0x88, sizeof(out.qs));
    return;
  }
  float amax = 0.0f;
  float max = 0.0f;
  for (int64_t j = 0; j < kQuantBlock; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  const float d = max / -8.0f;
  const float id = inverse_scale(d);
  out.d = float_to_f16(d);
  for (int64_t j = 0; j < kQuantBlock / 2; ++j) {
    const float x0 = opaque(x[j] * id);
    const float x1 = opaque(x[j + kQuantBlock / 2] * id);
    const int q0 = std::min(15, static_cast<int>(x0 + 8.5f));  // x0 + 8.5 lies in [0.49, 16.5]
    const int q1 = std::min(15, static_cast<int>(x1 + 8.5f));
    out.qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
  }
}

// Quantises a row of `cols` floats into quant_blocks(cols) blocks (the last one zero-padded).
template <typename Block, typename QuantizeBlock>
void quantize_row_with(const float* x, int64_t cols, Block* out, QuantizeBlock quantize_block) {
  const int64_t full = cols / kQuantBlock;
  for (int64_t b = 0; b < full; ++b) quantize_block(x + b * kQuantBlock, out[b]);
  if (const int64_t tail = cols - full * kQuantBlock; tail > 0) {
    float padded[kQuantBlock] = {};
    std::memcpy(padded, x + full * kQuantBlock, sizeof(float) * static_cast<size_t>(tail));
    quantize_block(padded, out[full]);
  }
}

inline void quantize_row_q8_0(const float* x, int64_t cols, BlockQ8_0* out) {
  quantize_row_with(x, cols, out, quantize_block_q8_0);
}
inline void quantize_row_q4_0(const float* x, int64_t cols, BlockQ4_0* out) {
  quantize_row_with(x, cols, out, quantize_block_q4_0);
}

}  // namespace quant_ref

// Value j (0..31) of a block as a small integer.
inline int quant_value(const BlockQ8_0& b, int64_t j) { return b.qs[j]; }
inline int quant_value(const BlockQ4_0& b, int64_t j) {
  const uint8_t q = b.qs[j % (kQuantBlock / 2)];
  return (j < kQuantBlock / 2 ? q & 15 : q >> 4) - 8;
}

// dequantize_row_q8_0 / dequantize_row_q4_0: out[c] = value * fp16-widened d for c < cols (the
// padding of the last block is not written).
template <typename Block>
void dequantize_row(const Block* in, int64_t cols, float* out) {
  for (int64_t c = 0; c < cols; ++c) {
    const Block& b = in[c / kQuantBlock];
    out[c] = static_cast<float>(quant_value(b, c % kQuantBlock)) * f16_to_float(b.d);
  }
}
inline void dequantize_row_q8_0(const BlockQ8_0* in, int64_t cols, float* out) { dequantize_row(in, cols, out); }
inline void dequantize_row_q4_0(const BlockQ4_0* in, int64_t cols, float* out) { dequantize_row(in, cols, out); }

}  // namespace genarm::model::detail
