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

GENARM_INLINE void WeightMatrix::matvec_rows(const float* x, float* y, int64_t begin, int64_t end) const {
  if (begin >= end) return;
  switch (dtype_) {
    case DType::kF32: detail::matvec_rows<detail::WeightFormat::kF32>(data_, cols_, x, y, begin, end); break;
    case DType::kBF16: detail::matvec_rows<detail::WeightFormat::kBF16>(data_, cols_, x, y, begin, end); break;
    default: detail::matvec_rows<detail::WeightFormat::kF16>(data_, cols_, x, y, begin, end); break;
  }
}

GENARM_INLINE void WeightMatrix::matvec(const float* x, float* y, ThreadPool* pool) const {
  if (pool == nullptr || pool->size() == 1 || rows_ * cols_ < kParallelThreshold) {
    matvec_rows(x, y, 0, rows_);
    return;
  }
  pool->parallel_for(
      static_cast<size_t>(rows_),
      [&](size_t begin, size_t end) { matvec_rows(x, y, static_cast<int64_t>(begin), static_cast<int64_t>(end)); },
      kRowGrain);
}

GENARM_INLINE void WeightMatrix::matmul(const float* x, int64_t n, int64_t ldx, float* y, int64_t ldy,
                                        ThreadPool* pool) const {
  if (n == 1) {
    matvec(x, y, pool);
    return;
  }
  auto body = [&](size_t begin, size_t end) {
    matmul_rows(x, n, ldx, y, ldy, static_cast<int64_t>(begin), static_cast<int64_t>(end));
  };
  if (pool == nullptr || pool->size() == 1) {
    body(0, static_cast<size_t>(rows_));
  } else {
    pool->parallel_for(static_cast<size_t>(rows_), body, kRowGrain);
  }
}

GENARM_INLINE void WeightMatrix::matmul_rows(const float* x, int64_t n, int64_t ldx, float* y, int64_t ldy,
                                             int64_t begin, int64_t end) const {
  using Stride = Eigen::OuterStride<>;
  Eigen::Map<const RowMatrix, 0, Stride> xs(x, n, cols_, Stride(ldx));
  if (dtype_ == DType::kF32) {
    ConstRowMatrixMap w(f32() + begin * cols_, end - begin, cols_);
    Eigen::Map<RowMatrix, 0, Stride> ys(y + begin, n, end - begin, Stride(ldy));
    ys.noalias() = xs * w.transpose();
    return;
  }
  // 16-bit weights: widen a tile of rows into a thread-local buffer, then one GEMM per tile.
  thread_local std::vector<float> tile;
  tile.resize(static_cast<size_t>(kTileRows * cols_));
  for (int64_t r0 = begin; r0 < end; r0 += kTileRows) {
    const int64_t rows = std::min(kTileRows, end - r0);
    for (int64_t r = 0; r < rows; ++r) row(r0 + r, tile.data() + r * cols_);
    ConstRowMatrixMap w(tile.data(), rows, cols_);
    Eigen::Map<RowMatrix, 0, Stride> ys(y + r0, n, rows, Stride(ldy));
    ys.noalias() = xs * w.transpose();
  }
}

}  // namespace genarm::model
