// Out-of-line definitions of weight_matrix.hpp (see core/compiled.hpp): included by the header in
// header-only mode, compiled once into genarm::compiled otherwise.
#pragma once

#include <algorithm>
#include <vector>

#include "genarm/model/detail/kernels.hpp"
#include "genarm/model/weight_matrix.hpp"

namespace genarm::model {

GENARM_INLINE void WeightMatrix::row(int64_t r, float* out) const {
  GENARM_DASSERT(r >= 0 && r < rows_);
  switch (dtype_) {
    case DType::kF32:
      std::memcpy(out, f32() + r * cols_, sizeof(float) * static_cast<size_t>(cols_));
      break;
    case DType::kBF16: detail::widen_row<detail::WeightFormat::kBF16>(u16() + r * cols_, out, cols_); break;
    default: detail::widen_row<detail::WeightFormat::kF16>(u16() + r * cols_, out, cols_); break;
  }
}

GENARM_INLINE void WeightMatrix::matmul_rows(const float* x, int64_t n, int64_t ldx, float* y, int64_t ldy,
                                             int64_t begin, int64_t end) const {
  if (begin >= end || n <= 0) return;
  switch (dtype_) {
    case DType::kF32:
      detail::matmul_rows<detail::WeightFormat::kF32>(data_, cols_, x, ldx, n, y, ldy, begin, end);
      break;
    case DType::kBF16:
      detail::matmul_rows<detail::WeightFormat::kBF16>(data_, cols_, x, ldx, n, y, ldy, begin, end);
      break;
    default: detail::matmul_rows<detail::WeightFormat::kF16>(data_, cols_, x, ldx, n, y, ldy, begin, end); break;
  }
}

GENARM_INLINE void WeightMatrix::matmul(const float* x, int64_t n, int64_t ldx, float* y, int64_t ldy,
                                        ThreadPool* pool) const {
  if (pool == nullptr || pool->size() == 1 || rows_ * cols_ * n < kParallelThreshold) {
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
