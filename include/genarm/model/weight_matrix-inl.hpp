// Out-of-line definitions of weight_matrix.hpp (see core/compiled.hpp): included by the header in
// header-only mode, compiled once into genarm::compiled otherwise.
#pragma once

#include <algorithm>
#include <vector>

#include "genarm/model/detail/matmul.hpp"
#include "genarm/model/detail/quant.hpp"
#include "genarm/model/weight_matrix.hpp"

namespace genarm::model {

GENARM_INLINE size_t WeightMatrix::matrix_bytes(WeightType type, int64_t rows, int64_t cols) {
  switch (type) {
    case WeightType::kF32: return static_cast<size_t>(rows * cols) * 4;
    case WeightType::kF16:
    case WeightType::kBF16: return static_cast<size_t>(rows * cols) * 2;
    case WeightType::kQ8_0: return static_cast<size_t>(detail::panel_matrix_bytes<detail::QuantKind::kQ8_0>(rows, cols));
    case WeightType::kQ4_0: return static_cast<size_t>(detail::panel_matrix_bytes<detail::QuantKind::kQ4_0>(rows, cols));
  }
  return 0;
}

GENARM_INLINE void WeightMatrix::row(int64_t r, float* out) const {
  GENARM_DASSERT(r >= 0 && r < rows_);
  switch (type_) {
    case WeightType::kF32: std::memcpy(out, row_data(r), sizeof(float) * static_cast<size_t>(cols_)); break;
    case WeightType::kBF16: detail::widen_row<detail::WeightFormat::kBF16>(row_data(r), out, cols_); break;
    case WeightType::kF16: detail::widen_row<detail::WeightFormat::kF16>(row_data(r), out, cols_); break;
    case WeightType::kQ8_0:
      detail::dequantize_panel_row(detail::QuantPanels<detail::QuantKind::kQ8_0>(data_, rows_, cols_), r, cols_, out);
      break;
    case WeightType::kQ4_0:
      detail::dequantize_panel_row(detail::QuantPanels<detail::QuantKind::kQ4_0>(data_, rows_, cols_), r, cols_, out);
      break;
  }
}

namespace detail {
// Quantises panel p of `from` (its rows as float) into a packed matrix at `data`.
template <QuantKind K>
void quantize_panel(const WeightMatrix& from, int64_t p, void* data, std::vector<float>& row,
                    std::vector<typename PanelTraits<K>::Block>& blocks) {
  const int64_t cols = from.cols(), per_row = quant_blocks(cols);
  const int64_t count = std::min<int64_t>(kPanelRows, from.rows() - p * kPanelRows);
  blocks.resize(static_cast<size_t>(kPanelRows * per_row));
  row.resize(static_cast<size_t>(cols));
  for (int64_t i = 0; i < count; ++i) {
    from.row(p * kPanelRows + i, row.data());
    if constexpr (K == QuantKind::kQ8_0) {
      quantize_row_q8_0(row.data(), cols, blocks.data() + i * per_row);
    } else {
      quantize_row_q4_0(row.data(), cols, blocks.data() + i * per_row);
    }
  }
  pack_panel<K>(blocks.data(), count, p, data, from.rows(), cols);
}
}  // namespace detail

GENARM_INLINE WeightMatrix WeightMatrix::converted(WeightType type, ThreadPool* pool) const {
  if (type == type_) return *this;
  LargePageBuffer out(matrix_bytes(type, rows_, cols_));
  // Quantised types go a panel (16 rows) at a time, floats a row at a time.
  const size_t units = static_cast<size_t>(is_quantized(type) ? detail::quant_panels(rows_) : rows_);
  auto body = [&](size_t begin, size_t end) {
    std::vector<float> tmp(static_cast<size_t>(cols_));
    std::vector<detail::BlockQ8_0> q8;
    std::vector<detail::BlockQ4_0> q4;
    for (size_t u = begin; u < end; ++u) {
      if (type == WeightType::kQ8_0) {
        detail::quantize_panel<detail::QuantKind::kQ8_0>(*this, static_cast<int64_t>(u), out.data(), tmp, q8);
        continue;
      }
      if (type == WeightType::kQ4_0) {
        detail::quantize_panel<detail::QuantKind::kQ4_0>(*this, static_cast<int64_t>(u), out.data(), tmp, q4);
        continue;
      }
      row(static_cast<int64_t>(u), tmp.data());
      std::byte* dst = out.data() + u * static_cast<size_t>(cols_) * (type == WeightType::kF32 ? 4 : 2);
      if (type == WeightType::kF32) {
        std::memcpy(dst, tmp.data(), sizeof(float) * static_cast<size_t>(cols_));
        continue;
      }
      auto* h = reinterpret_cast<uint16_t*>(dst);
      for (int64_t c = 0; c < cols_; ++c) {
        const float v = tmp[static_cast<size_t>(c)];
        h[c] = type == WeightType::kBF16 ? float_to_bf16(v) : float_to_f16(v);
      }
    }
  };
  if (pool != nullptr && pool->size() > 1 && rows_ > 64) {
    pool->parallel_for(units, body, is_quantized(type) ? 1 : 16);
  } else {
    body(0, units);
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
  if (type_ == WeightType::kQ8_0) {
    detail::q8_0_matmul(detail::QuantPanels<detail::QuantKind::kQ8_0>(data_, rows_, cols_), blocks, n, y, ldy, begin,
                        end);
  } else {
    detail::q4_0_matmul(detail::QuantPanels<detail::QuantKind::kQ4_0>(data_, rows_, cols_), blocks, n, y, ldy, begin,
                        end);
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
