// Quantised weight matrices as kept in memory: llama.cpp's Q8_0 / Q4_0 blocks (quant_ref.hpp),
// repacked at load into panels of 16 consecutive rows, so that a 64-byte vector holds the same four
// elements of 16 rows and one integer dot-product instruction advances 16 rows at once (llama.cpp
// repacks Q4_0 the same way for its CPU GEMM, in groups of 8 rows). The values and fp16 scales are
// exactly the blocks' — only their order changes — so any Q8_0 / Q4_0 tensor (a GGUF file's, say)
// packs without loss and unpacks to the same blocks.
//
// Layout of a matrix of `rows` x quant_blocks(cols) blocks, P = ceil(rows / 16) panels:
//   qs region  [P][blocks][kQsBytes]   panel p, block b; inside it 4-byte words (g, i) at 64 g + 4 i:
//                                      Q8_0: 8 groups g, word = elements 4g .. 4g+3 of row 16p + i,
//                                            each byte w + 128 (w ^ 0x80: an unsigned operand);
//                                      Q4_0: 4 groups g, word = bytes qs[4g .. 4g+3] of the block:
//                                            low nibbles elements 4g .. 4g+3, high nibbles 16+4g ..
//   d region   [P][blocks][16]         fp16 scales of rows 16p .. 16p+15
// Rows past `rows` in the last panel are zero blocks (scale 0, value 0). Every panel block's qs
// starts on a 64-byte boundary when the buffer does (kQsBytes is 512 or 256).
//
// The product of quant.hpp: every weight-row value is w - kBias with w in [0, 255] (Q8_0) or
// [0, 15] (Q4_0), so a block's exact integer dot product with a Q8_0 activation block x is
//   p = -kBias * sum(x) + sum_j w_j x_j         (|p| < 32 * 255 * 127 < 2^24: exact as float too)
// and activation_terms() tabulates -kBias * sum(x) and float(d_x) once per call.
// Thread-safety: pure functions and plain views, thread-safe.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "genarm/core/half.hpp"
#include "genarm/model/detail/quant_ref.hpp"

namespace genarm::model::detail {

inline constexpr int64_t kPanelRows = 16;

enum class QuantKind { kQ8_0, kQ4_0 };

template <QuantKind K>
struct PanelTraits;
template <>
struct PanelTraits<QuantKind::kQ8_0> {
  using Block = BlockQ8_0;
  static constexpr int64_t kGroups = 8;  // 4-byte words per row and block
  static constexpr int64_t kQsBytes = 512;
  static constexpr int32_t kBias = 128;
};
template <>
struct PanelTraits<QuantKind::kQ4_0> {
  using Block = BlockQ4_0;
  static constexpr int64_t kGroups = 4;  // each word holds two element groups (low, high nibbles)
  static constexpr int64_t kQsBytes = 256;
  static constexpr int32_t kBias = 8;
};

constexpr int64_t quant_panels(int64_t rows) { return (rows + kPanelRows - 1) / kPanelRows; }

// Bytes of a whole packed matrix: both regions.
template <QuantKind K>
constexpr int64_t panel_matrix_bytes(int64_t rows, int64_t cols) {
  return quant_panels(rows) * quant_blocks(cols) * (PanelTraits<K>::kQsBytes + kPanelRows * 2);
}

// A read-only view of a packed matrix.
template <QuantKind K>
struct QuantPanels {
  const uint8_t* qs = nullptr;  // [panels][blocks][kQsBytes]
  const uint16_t* d = nullptr;  // [panels][blocks][16]
  int64_t rows = 0, blocks = 0;

  QuantPanels() = default;
  QuantPanels(const void* data, int64_t rows_, int64_t cols)
      : qs(static_cast<const uint8_t*>(data)), rows(rows_), blocks(quant_blocks(cols)) {
    d = reinterpret_cast<const uint16_t*>(qs + quant_panels(rows) * blocks * PanelTraits<K>::kQsBytes);
  }
  const uint8_t* block_qs(int64_t p, int64_t b) const { return qs + (p * blocks + b) * PanelTraits<K>::kQsBytes; }
  const uint16_t* block_d(int64_t p, int64_t b) const { return d + (p * blocks + b) * kPanelRows; }
};

// Writes panel p of a matrix packed at `data` from its rows' blocks (row i of the panel at
// src + i * blocks, `count` <= 16 rows present; the others become zero blocks).
template <QuantKind K>
void pack_panel(const typename PanelTraits<K>::Block* src, int64_t count, int64_t p, void* data, int64_t rows,
                int64_t cols) {
  using T = PanelTraits<K>;
  const int64_t blocks = quant_blocks(cols);
  uint8_t* qs = static_cast<uint8_t*>(data);
  uint16_t* d = reinterpret_cast<uint16_t*>(qs + quant_panels(rows) * blocks * T::kQsBytes);
  for (int64_t b = 0; b < blocks; ++b) {
    uint8_t* out = qs + (p * blocks + b) * T::kQsBytes;
    uint16_t* scales = d + (p * blocks + b) * kPanelRows;
    for (int64_t i = 0; i < kPanelRows; ++i) {
      const bool present = i < count;
      scales[i] = present ? src[i * blocks + b].d : uint16_t{0};
      for (int64_t g = 0; g < T::kGroups; ++g) {
        uint8_t* word = out + 64 * g + 4 * i;
        if constexpr (K == QuantKind::kQ8_0) {
          for (int k = 0; k < 4; ++k)
            word[k] = present ? static_cast<uint8_t>(static_cast<uint8_t>(src[i * blocks + b].qs[4 * g + k]) ^ 0x80u)
                              : uint8_t{0x80};
        } else {
          if (present) {
            std::memcpy(word, src[i * blocks + b].qs + 4 * g, 4);
          } else {
            std::memset(word, 0x88, 4);
          }
        }
      }
    }
  }
}

// Packs a whole row-major block matrix (tests, loaders of pre-quantised tensors).
template <QuantKind K>
std::vector<uint8_t> pack_matrix(const typename PanelTraits<K>::Block* src, int64_t rows, int64_t cols) {
  std::vector<uint8_t> out(static_cast<size_t>(panel_matrix_bytes<K>(rows, cols)));
  const int64_t blocks = quant_blocks(cols);
  for (int64_t p = 0; p < quant_panels(rows); ++p) {
    const int64_t count = rows - p * kPanelRows < kPanelRows ? rows - p * kPanelRows : kPanelRows;
    pack_panel<K>(src + p * kPanelRows * blocks, count, p, out.data(), rows, cols);
  }
  return out;
}

// The stored (biased, unsigned) value of element 4 m + k of panel row i in a block's qs: the
// integer the kernels multiply with activation element 4 m + k (m in 0..7).
template <QuantKind K>
inline int32_t panel_weight(const uint8_t* qs, int64_t m, int64_t i, int k) {
  if constexpr (K == QuantKind::kQ8_0) {
    return qs[64 * m + 4 * i + k];
  } else {
    const uint8_t byte = qs[64 * (m % 4) + 4 * i + k];
    return m < 4 ? byte & 15 : byte >> 4;
  }
}

// Block b of row r as stored before packing.
template <QuantKind K>
typename PanelTraits<K>::Block unpack_block(const QuantPanels<K>& w, int64_t r, int64_t b) {
  using T = PanelTraits<K>;
  typename T::Block out{};
  const int64_t p = r / kPanelRows, i = r % kPanelRows;
  const uint8_t* qs = w.block_qs(p, b);
  out.d = w.block_d(p, b)[i];
  for (int64_t g = 0; g < T::kGroups; ++g) {
    for (int k = 0; k < 4; ++k) {
      const uint8_t byte = qs[64 * g + 4 * i + k];
      if constexpr (K == QuantKind::kQ8_0) {
        out.qs[4 * g + k] = static_cast<int8_t>(byte ^ 0x80u);
      } else {
        out.qs[4 * g + k] = byte;
      }
    }
  }
  return out;
}

// out[0..cols) = row r dequantised.
template <QuantKind K>
void dequantize_panel_row(const QuantPanels<K>& w, int64_t r, int64_t cols, float* out) {
  typename PanelTraits<K>::Block block;
  for (int64_t c = 0; c < cols; ++c) {
    if (c % kQuantBlock == 0) block = unpack_block(w, r, c / kQuantBlock);
    out[c] = static_cast<float>(quant_value(block, c % kQuantBlock)) * f16_to_float(block.d);
  }
}

// Per activation block (count blocks of Q8_0): its scale as float and -kBias * sum(x), the
// integer dot product's starting value. Kept per thread; grows on a thread's first larger call and
// is then reused, so steady-state decoding does not allocate.
struct ActivationTerms {
  std::vector<float> d;
  std::vector<int32_t> start;
};
template <QuantKind K>
const ActivationTerms& activation_terms(const BlockQ8_0* xq, int64_t count) {
  thread_local ActivationTerms terms;
  if (terms.d.size() < static_cast<size_t>(count)) {
    terms.d.resize(static_cast<size_t>(count));
    terms.start.resize(static_cast<size_t>(count));
  }
  for (int64_t i = 0; i < count; ++i) {
    int32_t sum = 0;
    for (int8_t v : xq[i].qs) sum += v;
    terms.d[static_cast<size_t>(i)] = f16_to_float(xq[i].d);
    terms.start[static_cast<size_t>(i)] = -PanelTraits<K>::kBias * sum;
  }
  return terms;
}

// Rows [row_begin, row_end) of y that lie in panel p: lanes [lo, hi) of it.
struct PanelLanes {
  int64_t lo, hi;
};
inline PanelLanes panel_lanes(int64_t p, int64_t row_begin, int64_t row_end) {
  const int64_t first = p * kPanelRows;
  return {row_begin > first ? row_begin - first : 0, row_end - first < kPanelRows ? row_end - first : kPanelRows};
}

}  // namespace genarm::model::detail
