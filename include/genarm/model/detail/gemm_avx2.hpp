// The AVX2 kernel for several activation rows (prefill, batched decoding) without AVX-512: the
// canonical dot order of kernels.hpp (blocks of 8, even blocks into acc0, odd into acc1, a
// zero-padded last block, the fixed horizontal sum), so its bits are decoding's.
//
// Both operands are first copied into panels — a chunk of R rows laid out block by block, all the
// even blocks and then all the odd ones, aligned to 64 bytes and zero-padded to a whole block:
//   panel[(p * pairs + q) * R + k][8] = row k, elements (2q + p) * 8 ... + 8 of the chunk
// Copying makes every load an aligned, sequential one (weights are mmapped at any offset, and
// activation rows a power-of-two apart share L1 sets), widens 16-bit weights once, and lets the
// register tile run one parity at a time: 2 weight rows x 6 activation rows of acc0, then of acc1,
// 12 accumulators plus 3 operands in 16 registers — each weight block loaded once per 6 activation
// rows, each activation block once per 2 weight rows.
// Blocking as gemm_rows (kernels.hpp): kGemmBlockRows weight rows x kGemmChunk columns stay in L2
// while a block of activation tiles goes past, partial sums kept between chunks in per-thread
// state (the accumulators, so the order of operations is unchanged).
// Thread-safety: pure functions (the panels and state are per thread).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "genarm/core/unroll.hpp"
#include "genarm/model/detail/kernels.hpp"

#if defined(GENARM_HAVE_SIMD_KERNELS) && !defined(GENARM_HAVE_AVX512_KERNELS)
namespace genarm::model::detail {

inline constexpr int kGemmTileRows = 2;  // weight rows per register tile
inline constexpr int kGemmTileCols = 6;  // activation rows per register tile
// Fewer activation rows than this (a small decoding batch) read the weights where they lie: the
// copy into panels costs more than it saves (genarm_batch_bench, 91M F32 Llama, 1 thread, tokens/s:
// 2 sequences 47 through panels, 60 without; 8 sequences 140 through panels).
inline constexpr int64_t kPanelMinRows = 8;

// The activation panels of one block: at most this. Only each tile (in L1) is reused; the block
// comes from L3 once per weight block, so it is large enough that a prompt's chunk of 128 rows is
// one block (each weight read from memory once per call, not once per 126 rows).
inline constexpr int64_t kPanelXBytes = 2 << 20;

// Blocks of 8 in a chunk of len columns, and the blocks of each parity (the even ones first).
inline int64_t panel_blocks(int64_t len) { return (len + kDotBlock - 1) / kDotBlock; }
inline int64_t panel_pairs(int64_t len) { return (panel_blocks(len) + 1) / 2; }

// The start of v's first `floats` floats aligned to 64 bytes (v only grows: a warm loop does not
// allocate).
inline float* aligned_floats(std::vector<float>& v, size_t floats) {
  constexpr size_t kAlign = 64 / sizeof(float);
  if (v.size() < floats + kAlign) v.resize(floats + kAlign);
  const auto at = reinterpret_cast<uintptr_t>(v.data());
  return v.data() + ((64 - at % 64) % 64) / sizeof(float);
}

// Copies m rows (each pointing at the chunk's first element; len elements) into a panel of m rows.
template <WeightFormat F>
inline void pack_float_panel(const void* const* rows, int m, int64_t len, float* panel) {
  const int64_t blocks = panel_blocks(len), pairs = panel_pairs(len);
  for (int64_t b = 0; b < blocks; ++b) {
    float* dst = panel + ((b & 1) * pairs + b / 2) * m * kDotBlock;
    const int64_t i = b * kDotBlock, n = std::min(kDotBlock, len - i);
    for (int k = 0; k < m; ++k) {
      const Vec v = n == kDotBlock ? wload<F>(rows[k], i) : wload_tail<F>(rows[k], i, n);
      _mm256_store_ps(dst + k * kDotBlock, v);
    }
  }
}

// One register tile: the R-row weight panel wp against the T-row activation panel xp over a chunk
// of `blocks` blocks. `first`: the accumulators start at zero, else from `state`; `last` (the rows'
// end): y[t * ldy + k] = dot(w[k], x[t]), else the accumulators go to `state` ([R][T][acc0 8,
// acc1 8] floats; null when the rows are one chunk).
template <int R, int T>
inline void panel_tile(const float* wp, const float* xp, int64_t blocks, float* state, bool first, bool last, float* y,
                       int64_t ldy) {
  alignas(32) float local[R * T * kLanePair];  // acc0 between the two parities of a one-chunk row
  float* s = state != nullptr ? state : local;
  const int64_t pairs = (blocks + 1) / 2;
  for (int p = 0; p < 2; ++p) {
    Vec acc[R][T];
    GENARM_UNROLL for (int k = 0; k < R; ++k) {
      GENARM_UNROLL for (int t = 0; t < T; ++t) {
        acc[k][t] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(s + (k * T + t) * kLanePair + p * kDotBlock);
      }
    }
    const float* wq = wp + p * pairs * R * kDotBlock;
    const float* xq = xp + p * pairs * T * kDotBlock;
    // The blocks of parity p: an odd last block has no odd partner (nothing is added for it).
    const int64_t count = p == 0 ? pairs : blocks / 2;
    for (int64_t q = 0; q < count; ++q, wq += R * kDotBlock, xq += T * kDotBlock) {
      Vec wv[R];
      GENARM_UNROLL for (int k = 0; k < R; ++k) wv[k] = _mm256_load_ps(wq + k * kDotBlock);
      GENARM_UNROLL for (int t = 0; t < T; ++t) {
        Vec xv = _mm256_load_ps(xq + t * kDotBlock);
        // Keeps xv in a register: folded into each multiply-add, the block would be loaded R times.
        __asm__("" : "+x"(xv));
        GENARM_UNROLL for (int k = 0; k < R; ++k) acc[k][t] = _mm256_fmadd_ps(wv[k], xv, acc[k][t]);
      }
    }
    GENARM_UNROLL for (int k = 0; k < R; ++k) {
      GENARM_UNROLL for (int t = 0; t < T; ++t) {
        float* a = s + (k * T + t) * kLanePair;
        if (last && p == 1) {
          y[t * ldy + k] = hsum(_mm256_loadu_ps(a), acc[k][t]);
        } else {
          _mm256_storeu_ps(a + p * kDotBlock, acc[k][t]);
        }
      }
    }
  }
}

// panel_tile for a last activation tile of fewer than kGemmTileCols rows.
template <int R, int T = kGemmTileCols>
inline void panel_tile_cols(int cols_in_tile, const float* wp, const float* xp, int64_t blocks, float* state,
                            bool first, bool last, float* y, int64_t ldy) {
  if constexpr (T > 1) {
    if (cols_in_tile < T) return panel_tile_cols<R, T - 1>(cols_in_tile, wp, xp, blocks, state, first, last, y, ldy);
  }
  panel_tile<R, T>(wp, xp, blocks, state, first, last, y, ldy);
}

// matmul_rows for n > 1 on AVX2.
template <WeightFormat F>
void gemm_rows(const void* w, int64_t cols, const float* x, int64_t ldx, int64_t n, float* y, int64_t ldy,
               int64_t begin, int64_t end) {
  constexpr int64_t kSlot = kGemmTileRows * kGemmTileCols * kLanePair;  // floats of state per tile
  constexpr int64_t kRowTiles = kGemmBlockRows / kGemmTileRows + kGemmTileRows - 1;
  constexpr int64_t kPanelFloats = kGemmChunk * kGemmTileCols;  // one activation tile's chunk
  const int64_t chunks = (cols + kGemmChunk - 1) / kGemmChunk;
  const int64_t tiles = (n + kGemmTileCols - 1) / kGemmTileCols;
  // Activation blocks of equal size (whole tiles) whose chunk stays within kPanelXBytes.
  const int64_t span = std::min(cols, kGemmChunk);
  const int64_t most = std::max<int64_t>(1, kPanelXBytes / (span * 4 * kGemmTileCols));
  const int64_t count = (tiles + most - 1) / most;
  const int64_t block_tiles = (tiles + count - 1) / count;
  // Per-thread buffers that only grow: the activations' panels ([tile][chunk], each kPanelFloats),
  // the weight block's panels at one chunk, and the state of a block's tiles.
  thread_local std::vector<float> xbuf, wbuf, state;
  float* xpanels = aligned_floats(xbuf, static_cast<size_t>(tiles * chunks * kPanelFloats));
  float* wpanels = aligned_floats(wbuf, static_cast<size_t>(kGemmBlockRows * kGemmChunk));
  float* st = chunks > 1 ? aligned_floats(state, static_cast<size_t>(kRowTiles * block_tiles * kSlot)) : nullptr;
  for (int64_t tile = 0; tile < tiles; ++tile) {
    const int m = static_cast<int>(std::min<int64_t>(kGemmTileCols, n - tile * kGemmTileCols));
    const void* rows[kGemmTileCols];
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t c0 = c * kGemmChunk;
      for (int k = 0; k < m; ++k) rows[k] = x + (tile * kGemmTileCols + k) * ldx + c0;
      pack_float_panel<WeightFormat::kF32>(rows, m, std::min(kGemmChunk, cols - c0), xpanels + (tile * chunks + c) * kPanelFloats);
    }
  }
  for (int64_t tb = 0; tb < tiles; tb += block_tiles) {
    const int64_t te = std::min(tiles, tb + block_tiles);
    for (int64_t r0 = begin; r0 < end; r0 += kGemmBlockRows) {
      const int64_t r1 = std::min(r0 + kGemmBlockRows, end);
      for (int64_t c = 0; c < chunks; ++c) {
        const int64_t c0 = c * kGemmChunk, len = std::min(kGemmChunk, cols - c0), blocks = panel_blocks(len);
        const bool first = c == 0, last = c + 1 == chunks;
        // The block's row tiles at this chunk: kGemmTileRows rows each, then single rows.
        const float* wp[kRowTiles];
        int64_t tile_count = 0;
        float* dst = wpanels;
        for (int64_t r = r0; r < r1; ++tile_count) {
          const int m = r1 - r >= kGemmTileRows ? kGemmTileRows : 1;
          const void* rows[kGemmTileRows];
          for (int k = 0; k < m; ++k) rows[k] = static_cast<const char*>(row_ptr<F>(w, r + k, cols)) + c0 * weight_size<F>();
          pack_float_panel<F>(rows, m, len, dst);
          wp[tile_count] = dst;
          dst += panel_pairs(len) * 2 * m * kDotBlock;
          r += m;
        }
        // Each activation tile stays in L1 while the block's weight panels (L2) go past it.
        for (int64_t tile = tb; tile < te; ++tile) {
          const int tc = static_cast<int>(std::min<int64_t>(kGemmTileCols, n - tile * kGemmTileCols));
          const float* xp = xpanels + (tile * chunks + c) * kPanelFloats;
          for (int64_t i = 0, r = r0; i < tile_count; ++i) {
            float* s = st == nullptr ? nullptr : st + (i * block_tiles + (tile - tb)) * kSlot;
            float* yt = y + tile * kGemmTileCols * ldy + r;
            if (r1 - r >= kGemmTileRows) {
              panel_tile_cols<kGemmTileRows>(tc, wp[i], xp, blocks, s, first, last, yt, ldy);
              r += kGemmTileRows;
            } else {
              panel_tile_cols<1>(tc, wp[i], xp, blocks, s, first, last, yt, ldy);
              r += 1;
            }
          }
        }
      }
    }
  }
}

}  // namespace genarm::model::detail
#endif
