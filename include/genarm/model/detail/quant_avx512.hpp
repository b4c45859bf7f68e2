// AVX-512 (F, BW, VL, VNNI) kernels for Q8_0 / Q4_0 weights: the same products as quant_avx2.hpp,
// bit for bit, but register-tiled for prompts and batches. A zmm register holds two consecutive
// blocks side by side (block 2k in lanes 0-7, block 2k+1 in lanes 8-15), which is exactly the pair
// of accumulators acc[b % 2] of quant.hpp's operation order; and a 4 x 4 tile of (weight row,
// activation row) pairs keeps 16 such accumulators in registers, so each weight block is unpacked
// once for four activation rows and each activation block loaded once for four weight rows. Per
// pair and pair of blocks that leaves one VNNI dot product, one conversion, one scale product and
// one FMA (the AVX2 kernel needs about six instructions per single block).
//
// The byte products (all exact in int32, so any method gives the same lane sums):
//   Q8_0: AVX-512 has no vpsignb, so the activations are shifted to unsigned, x + 128 in [1, 255],
//         and -128 * sum(w) per lane is the dot product's starting value (once per weight block).
//   Q4_0: the nibbles q in [0, 15] are the unsigned operand, and -8 * sum(x) per lane, tabulated
//         once per call, the starting value (as in the AVX2 kernel).
// Activations are prepared once per call into a per-thread buffer (pairs of blocks in one 64-byte
// line, scales as float, Q4_0's table) of about 2 bytes per element; it grows on a thread's first
// larger call and is then reused, so steady-state decoding does not allocate.
// Compiled only when the compiler targets these extensions (GENARM_QUANT_AVX512); otherwise the
// AVX2 kernel is the native one.
// Thread-safety: thread-safe (per-thread scratch).
#pragma once

#include "genarm/model/detail/quant_avx2.hpp"

#if defined(GENARM_QUANT_AVX2) && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && \
    defined(__AVX512VNNI__)
#define GENARM_QUANT_AVX512 1

#include <immintrin.h>

#include <cstdint>
#include <vector>

#include "genarm/model/detail/quant_ref.hpp"

namespace genarm::model::detail::quant_avx512 {

inline constexpr int kWeightTile = 4;  // weight rows per register tile
inline constexpr int kActTile = 4;     // activation rows per register tile
// Weight bytes per row group when n > kActTile: the group stays in L2 while every activation tile
// goes past it (so weights come from memory once, activations once per group).
#ifndef GENARM_QUANT512_GROUP
#define GENARM_QUANT512_GROUP (96 * 1024)
#endif
inline constexpr int64_t kGroupBytes = GENARM_QUANT512_GROUP;
inline constexpr int kPrefetchBytes = quant_avx2::kPrefetchBytes;

// Activation rows prepared for one call; pair k of row t is entry t * pairs + k. The padding half
// of an odd last pair is zero everywhere (it meets zero weights and a zero scale).
struct alignas(64) Line {
  int32_t v[16];
};
struct PreparedActivations {
  std::vector<Line> qs;   // blocks 2k, 2k+1; for Q8_0 weights as x + 128 (bytes ^ 0x80)
  std::vector<Line> off;  // Q4_0 only: -8 * (x[4m] + ... + x[4m+3]) per int32 lane m
  std::vector<float> d;      // [2 * entry + h]: the scale of block 2k + h as float
};
inline PreparedActivations& prepared_activations() {
  thread_local PreparedActivations p;
  return p;
}

template <bool kForQ4>
inline const PreparedActivations& prepare(const BlockQ8_0* xq, int64_t n, int64_t blocks) {
  PreparedActivations& p = prepared_activations();
  const int64_t pairs = (blocks + 1) / 2;
  const size_t count = static_cast<size_t>(n * pairs);
  if (p.qs.size() < count) p.qs.resize(count);
  if (p.d.size() < 2 * count) p.d.resize(2 * count);
  if (kForQ4 && p.off.size() < count) p.off.resize(count);
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  const __m512i eight = _mm512_set1_epi8(8);
  for (int64_t t = 0; t < n; ++t) {
    const BlockQ8_0* x = xq + t * blocks;
    for (int64_t k = 0; k < pairs; ++k) {
      const size_t e = static_cast<size_t>(t * pairs + k);
      const bool full = 2 * k + 1 < blocks;
      const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[2 * k].qs));
      const __m256i hi =
          full ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[2 * k + 1].qs)) : _mm256_setzero_si256();
      const __m512i z = _mm512_inserti64x4(_mm512_zextsi256_si512(lo), hi, 1);
      p.d[2 * e] = _cvtsh_ss(x[2 * k].d);
      p.d[2 * e + 1] = full ? _cvtsh_ss(x[2 * k + 1].d) : 0.0f;
      if constexpr (kForQ4) {
        _mm512_store_si512(p.qs[e].v, z);
        // x in [-127, 127]: -x does not overflow; 8 * |x| sums stay far inside int32.
        _mm512_store_si512(p.off[e].v,
                           _mm512_dpbusd_epi32(_mm512_setzero_si512(), eight, _mm512_sub_epi8(_mm512_setzero_si512(), z)));
      } else {
        // The padding half stays zero (not 0x80): it meets zero weights either way.
        _mm512_store_si512(p.qs[e].v, full ? _mm512_xor_si512(z, flip) : _mm512_mask_xor_epi64(z, 0x0f, z, flip));
      }
    }
  }
  return p;
}

// Scales of weight blocks 2k and 2k+1 (0 for a padding half), widened: lanes 0-7 and 8-15.
inline __m512 pair_scales(uint16_t d0, uint16_t d1) {
  return _mm512_cvtph_ps(_mm256_set_m128i(_mm_set1_epi16(static_cast<short>(d1)), _mm_set1_epi16(static_cast<short>(d0))));
}

// Q8_0 weights: signed bytes; the dot product starts from -128 * sum(w) per lane.
struct Q8Weights {
  using Block = BlockQ8_0;
  using Avx2 = quant_avx2::Q8Weights;
  static constexpr bool kForQ4 = false;
  struct Values {
    __m512i w, start;
    __m512 d;
  };
  template <bool kFull>
  static Values load(const BlockQ8_0* b) {
    const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[0].qs));
    const __m256i hi = kFull ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[1].qs)) : _mm256_setzero_si256();
    const __m512i w = _mm512_inserti64x4(_mm512_zextsi256_si512(lo), hi, 1);
    const __m512i c = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(static_cast<char>(0x80)), w);
    return {w, _mm512_sub_epi32(_mm512_setzero_si512(), c), pair_scales(b[0].d, kFull ? b[1].d : uint16_t{0})};
  }
  static __m512i lane_sums(const Values& v, __m512i x, const Line*) { return _mm512_dpbusd_epi32(v.start, x, v.w); }
};

// Q4_0 weights: nibbles as the unsigned operand; the dot product starts from the activation table.
struct Q4Weights {
  using Block = BlockQ4_0;
  using Avx2 = quant_avx2::Q4Weights;
  static constexpr bool kForQ4 = true;
  struct Values {
    __m512i q;
    __m512 d;
  };
  template <bool kFull>
  static Values load(const BlockQ4_0* b) {
    const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[0].qs));
    const __m128i hi = kFull ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[1].qs)) : _mm_setzero_si128();
    const __m256i packed = _mm256_inserti128_si256(_mm256_zextsi128_si256(lo), hi, 1);  // [b0 | b1] bytes
    // [b0, b1, b0 >> 4, b1 >> 4] in 128-bit lanes, reordered to [b0, b0 >> 4, b1, b1 >> 4]: low
    // nibbles are elements 0-15 of a block, high nibbles 16-31.
    const __m512i both = _mm512_inserti64x4(_mm512_zextsi256_si512(packed), _mm256_srli_epi16(packed, 4), 1);
    const __m512i ordered = _mm512_shuffle_i64x2(both, both, _MM_SHUFFLE(3, 1, 2, 0));
    return {_mm512_and_si512(ordered, _mm512_set1_epi8(15)), pair_scales(b[0].d, kFull ? b[1].d : uint16_t{0})};
  }
  static __m512i lane_sums(const Values& v, __m512i x, const Line* off) {
    return _mm512_dpbusd_epi32(_mm512_load_si512(off->v), v.q, x);
  }
};

// hsum of quant_avx2 on (acc[0] + acc[1]): the reduction of quant.hpp.
inline float reduce(__m512 acc) {
  alignas(64) float lanes[16];  // (GCC 12 warns on its own half-extract intrinsics at -O1)
  _mm512_store_ps(lanes, acc);
  return quant_avx2::hsum(_mm256_add_ps(_mm256_load_ps(lanes), _mm256_load_ps(lanes + 8)));
}

// One step of an RW x RX tile: block pair k of every weight row and activation row.
template <int RW, int RX, typename W, bool kFull>
inline void tile_step(const typename W::Block* const* wr, int64_t k, const PreparedActivations& a,
                      const size_t* entry, __m512 (&acc)[RW][RX], bool prefetch) {
  typename W::Values wv[RW];
#pragma GCC unroll 4
  for (int i = 0; i < RW; ++i) {
    if (prefetch) {
      // An address (never dereferenced: prefetches do not fault), computed as an integer since it
      // may lie past the end of the matrix.
      _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(wr[i] + 2 * k) + kPrefetchBytes),
                   _MM_HINT_T0);
    }
    wv[i] = W::template load<kFull>(wr[i] + 2 * k);
  }
  const __m512i pick = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
#pragma GCC unroll 4
  for (int j = 0; j < RX; ++j) {
    const size_t e = entry[j] + static_cast<size_t>(k);
    const __m512i x = _mm512_load_si512(a.qs[e].v);
    const __m512 dx = _mm512_permutexvar_ps(
        pick, _mm512_zextps128_ps512(_mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(a.d.data() + 2 * e)))));
    const Line* off = W::kForQ4 ? a.off.data() + e : nullptr;
#pragma GCC unroll 4
    for (int i = 0; i < RW; ++i) {
      const __m512 sum = _mm512_cvtepi32_ps(W::lane_sums(wv[i], x, off));
      acc[i][j] = _mm512_fmadd_ps(_mm512_mul_ps(wv[i].d, dx), sum, acc[i][j]);
    }
  }
}

// Weight rows r .. r + RW - 1 against activation rows t0 .. t0 + RX - 1.
template <int RW, int RX, typename W>
void tile(const typename W::Block* w, int64_t blocks, int64_t r, int64_t t0, const PreparedActivations& a, float* y,
          int64_t ldy, bool prefetch) {
  const int64_t pairs = (blocks + 1) / 2, full_pairs = blocks / 2;
  const typename W::Block* wr[RW];
  for (int i = 0; i < RW; ++i) wr[i] = w + (r + i) * blocks;
  size_t entry[RX];
  for (int j = 0; j < RX; ++j) entry[j] = static_cast<size_t>((t0 + j) * pairs);
  __m512 acc[RW][RX];
#pragma GCC unroll 4
  for (int i = 0; i < RW; ++i) {
#pragma GCC unroll 4
    for (int j = 0; j < RX; ++j) acc[i][j] = _mm512_setzero_ps();
  }
  for (int64_t k = 0; k < full_pairs; ++k) tile_step<RW, RX, W, true>(wr, k, a, entry, acc, prefetch);
  if (full_pairs < pairs) tile_step<RW, RX, W, false>(wr, full_pairs, a, entry, acc, prefetch);
#pragma GCC unroll 4
  for (int i = 0; i < RW; ++i) {
#pragma GCC unroll 4
    for (int j = 0; j < RX; ++j) y[(t0 + j) * ldy + r + i] = reduce(acc[i][j]);
  }
}

template <int RW, typename W>
void tile_rx(int rx, const typename W::Block* w, int64_t blocks, int64_t r, int64_t t0, const PreparedActivations& a,
             float* y, int64_t ldy, bool prefetch) {
  switch (rx) {
    case 4: tile<RW, 4, W>(w, blocks, r, t0, a, y, ldy, prefetch); break;
    case 3: tile<RW, 3, W>(w, blocks, r, t0, a, y, ldy, prefetch); break;
    case 2: tile<RW, 2, W>(w, blocks, r, t0, a, y, ldy, prefetch); break;
    default: tile<RW, 1, W>(w, blocks, r, t0, a, y, ldy, prefetch); break;
  }
}

template <typename W>
void matmul_rows(const typename W::Block* w, int64_t blocks, const BlockQ8_0* xq, int64_t n, float* y, int64_t ldy,
                 int64_t row_begin, int64_t row_end) {
  if (row_begin >= row_end || n <= 0) return;
  if (n == 1) {
    // Decoding one sequence streams the weights once: the AVX2 kernel keeps closer to the memory
    // bandwidth there (Q8_0 0.5B-shape: 57 vs 41 tokens/s), with the same bits.
    quant_avx2::matmul_rows<typename W::Avx2>(w, blocks, xq, n, y, ldy, row_begin, row_end);
    return;
  }
  const PreparedActivations& a = prepare<W::kForQ4>(xq, n, blocks);
  const int64_t row_bytes = blocks * static_cast<int64_t>(sizeof(typename W::Block));
  int64_t group = row_end - row_begin;
  if (n > kActTile) {
    group = kGroupBytes / row_bytes / kWeightTile * kWeightTile;
    if (group < kWeightTile) group = kWeightTile;
  }
  for (int64_t r0 = row_begin; r0 < row_end; r0 += group) {
    const int64_t r1 = r0 + group < row_end ? r0 + group : row_end;
    for (int64_t t0 = 0; t0 < n; t0 += kActTile) {
      const int rx = static_cast<int>(n - t0 < kActTile ? n - t0 : kActTile);
      const bool prefetch = t0 == 0;  // later tiles find the group in cache
      for (int64_t r = r0; r < r1; r += kWeightTile) {
        switch (r1 - r < kWeightTile ? r1 - r : kWeightTile) {
          case 4: tile_rx<4, W>(rx, w, blocks, r, t0, a, y, ldy, prefetch); break;
          case 3: tile_rx<3, W>(rx, w, blocks, r, t0, a, y, ldy, prefetch); break;
          case 2: tile_rx<2, W>(rx, w, blocks, r, t0, a, y, ldy, prefetch); break;
          default: tile_rx<1, W>(rx, w, blocks, r, t0, a, y, ldy, prefetch); break;
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

// The activation quantiser is the AVX2 one (its cost is per activation, not per weight).
inline void quantize_row_q8_0(const float* x, int64_t cols, BlockQ8_0* out) {
  quant_avx2::quantize_row_q8_0(x, cols, out);
}

}  // namespace genarm::model::detail::quant_avx512

#endif
