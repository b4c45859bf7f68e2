// Out-of-line definitions of weight_matrix.hpp (see core/compiled.hpp): included by the header in
// header-only mode, compiled once into genarm::compiled otherwise.
#pragma once

#include <algorithm>
#include <vector>

#include "genarm/model/detail/kernels.hpp"
#include "genarm/model/detail/quant.hpp"
#include "genarm/model/weight_matrix.hpp"

namespace genarm::model {

GENARM_INLINE size_t WeightMatrix::row_bytes(WeightType type, int64_t cols) {
  switch (type) {
    case WeightType::kF32: return static_cast<size_t>(cols) * 4;
    case WeightType::kF16:
    case WeightType::kBF16: return static_cast<size_t>(cols) * 2;
    case WeightType::kQ8_0: return static_cast<size_t>(detail::q8_0_row_bytes(cols));
    case WeightType::kQ4_0: return static_cast<size_t>(detail::q4_0_row_bytes(cols));
  }
  return 0;
}

GENARM_INLINE void WeightMatrix::row(int64_t r, float* out) const {
  GENARM_DASSERT(r >= 0 && r < rows_);
  const void* p = row_data(r);
  switch (type_) {
    case WeightType::kF32: std::memcpy(out, p, sizeof(float) * static_cast<size_t>(cols_)); break;
    case WeightType::kBF16: detail::widen_row<detail::WeightFormat::kBF16>(p, out, cols_); break;
    case WeightType::kF16: detail::widen_row<detail::WeightFormat::kF16>(p, out, cols_); break;
    case WeightType::kQ8_0: detail::dequantize_row_q8_0(static_cast<const detail::BlockQ8_0*>(p), cols_, out); break;
    case WeightType::kQ4_0: detail::dequantize_row_q4_0(static_cast<const detail::BlockQ4_0*>(p), cols_, out); break;
  }
}

GENARM_INLINE WeightMatrix WeightMatrix::converted(WeightType type, ThreadPool* pool) const {
  if (type == type_) return *this;
  const size_t out_row = row_bytes(type, cols_);
  LargePageBuffer out(static_cast<size_t>(rows_) * out_row);
  auto body = [&](size_t begin, size_t end) {
    std::vector<float> tmp(static_cast<size_t>(cols_));
    for (size_t r = begin; r < end; ++r) {
      row(static_cast<int64_t>(r), tmp.data());
      std::byte* dst = out.data() + r * out_row;
      switch (type) {
        case WeightType::kF32: std::memcpy(dst, tmp.data(), out_row); break;
        case WeightType::kBF16:
        case WeightType::kF16: {
          auto* h = reinterpret_cast<uint16_t*>(dst);
          for (int64_t c = 0; c < cols_; ++c) {
            const float v = tmp[static_cast<size_t>(c)];
            h[c] = type == WeightType::kBF16 ? float_to_bf16(v) : float_to_f16(v);
          }
          break;
        }
        case WeightType::kQ8_0:
          detail::quantize_row_q8_0(tmp.data(), cols_, reinterpret_cast<detail::BlockQ8_0*>(dst));
          break;
        case WeightType::kQ4_0:
          detail::quantize_row_q4_0(tmp.data(), cols_, reinterpret_cast<detail::BlockQ4_0*>(dst));
          break;
      }
    }
  };
  if (pool != nullptr && pool->size() > 1 && rows_ > 64) {
    pool->parallel_for(static_cast<size_t>(rows_), body, 16);
  } else {
    body(0, static_cast<size_t>(rows_));
  }
  return owned(type, rows_, cols_, std::move(out));
}

namespace detail {
// Activations quantised to Q8_0 for a quantised product: a per-thread buffer, grown once.
inline BlockQ8_0* quantized_activations(const float* x, int64_t n, int64_t ldx, int64_t cols) {
  thread_local std::vector<BlockQ8_0> xq;
  const size_t need = static_cast<size_t>(n * quant_blocks(cols));
  if (xq.size() < need) xq.resize(need);
  quantize_rows_q8_0(x, n, ldx, cols, xq.data());
  return xq.data();
}
}  // namespace detail

GENARM_INLINE void WeightMatrix::matmul_rows(const float* x, int64_t n, int64_t ldx, float* y, int64_t ldy,
                                             int64_t begin, int64_t end) const {
  if (begin >= end || n <= 0) return;
  switch (type_) {
    case WeightType::kF32:
      detail::matmul_rows<detail::WeightFormat::kF32>(data_, cols_, x, ldx, n, y, ldy, begin, end);
      break;
    case WeightType::kBF16:
      detail::matmul_rows<detail::WeightFormat::kBF16>(data_, cols_, x, ldx, n, y, ldy, begin, end);
      break;
    case WeightType::kF16:
      detail::matmul_rows<detail::WeightFormat::kF16>(data_, cols_, x, ldx, n, y, ldy, begin, end);
      break;
    case WeightType::kQ8_0:
    case WeightType::kQ4_0: quantized_matmul_rows(detail::quantized_activations(x, n, ldx, cols_), n, y, ldy, begin, end);
      break;
  }
}

GENARM_INLINE void WeightMatrix::quantized_matmul_rows(const void* xq, int64_t n, float* y, int64_t ldy, int64_t begin,
                                                       int64_t end) const {
  const auto* blocks = static_cast<const detail::BlockQ8_0*>(xq);
  const int64_t bpr = detail::quant_blocks(cols_);
  if (type_ == WeightType::kQ8_0) {
    detail::q8_0_matmul_rows(static_cast<const detail::BlockQ8_0*>(data_), bpr, blocks, n, y, ldy, begin, end);
  } else {
    detail::q4_0_matmul_rows(static_cast<const detail::BlockQ4_0*>(data_), bpr, blocks, n, y, ldy, begin, end);
  }
}

GENARM_INLINE void WeightMatrix::matmul(const float* x, int64_t n, int64_t ldx, float* y, int64_t ldy,
                                        ThreadPool* pool) const {
  const bool threaded = pool != nullptr && pool->size() > 1 && rows_ * cols_ * n >= kParallelThreshold;
  if (is_quantized(type_)) {
    // The activations are quantised once, then every thread reads them.
    const void* xq = detail::quantized_activations(x, n, ldx, cols_);
    if (!threaded) {
      quantized_matmul_rows(xq, n, y, ldy, 0, rows_);
      return;
    }
    pool->parallel_for(
        static_cast<size_t>(rows_),
        [&](size_t begin, size_t end) {
          quantized_matmul_rows(xq, n, y, ldy, static_cast<int64_t>(begin), static_cast<int64_t>(end));
        },
        kRowGrain);
    return;
  }
  if (!threaded) {
    matmul_rows(x, n, ldx, y, ldy, 0, rows_);
    return;
  }
  pool->parallel_for(
      static_cast<size_t>(rows_),
      [&](size_t begin, size_t end) {
        matmul_rows(x, n, ldx, y, ldy, static_cast<int64_t>(begin), static_cast<int64_t>(end));
      },
      kRowGrain);
}

}  // namespace genarm::model
