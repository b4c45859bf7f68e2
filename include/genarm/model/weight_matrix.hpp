// WeightMatrix: one read-only weight matrix in nn.Linear layout [rows = out, cols = in], stored as
// F32, F16 or BF16 — viewed in place inside the memory-mapped checkpoint whenever possible (no
// copy), or owned when the checkpoint's layout had to change (GPT-2 Conv1D weights are [in, out]).
// Products are computed in float32: y = W x (decode) and Y = X W^T (prefill), split by rows over a
// ThreadPool.
// Ownership: keeps its storage (the mapping or its own buffer) alive through a shared_ptr.
// Thread-safety: immutable, thread-safe.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "genarm/core/dtype.hpp"
#include "genarm/core/error.hpp"
#include "genarm/core/half.hpp"
#include "genarm/core/large_page_buffer.hpp"
#include "genarm/core/thread_pool.hpp"
#include "genarm/model/detail/kernels.hpp"

namespace genarm::model {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowMatrixMap = Eigen::Map<RowMatrix>;
using ConstRowMatrixMap = Eigen::Map<const RowMatrix>;
using VectorMap = Eigen::Map<Eigen::VectorXf>;
using ConstVectorMap = Eigen::Map<const Eigen::VectorXf>;

class WeightMatrix {
 public:
  WeightMatrix() = default;

  // Views `bytes` (rows x cols elements of `dtype`, row-major) without copying; `keepalive` owns them.
  static WeightMatrix view(DType dtype, int64_t rows, int64_t cols, const void* data,
                           std::shared_ptr<const void> keepalive) {
    WeightMatrix m;
    m.dtype_ = dtype;
    m.rows_ = rows;
    m.cols_ = cols;
    m.data_ = data;
    m.keepalive_ = std::move(keepalive);
    return m;
  }
  // Takes ownership of a raw row-major buffer.
  static WeightMatrix owned(DType dtype, int64_t rows, int64_t cols, LargePageBuffer bytes) {
    auto storage = std::make_shared<const LargePageBuffer>(std::move(bytes));
    GENARM_ASSERT(storage->size() == static_cast<size_t>(rows * cols) * dtype_size(dtype));
    return view(dtype, rows, cols, storage->data(), storage);
  }

  bool empty() const { return data_ == nullptr; }
  DType dtype() const { return dtype_; }
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  size_t bytes() const { return static_cast<size_t>(rows_ * cols_) * dtype_size(dtype_); }

  // out[0..cols) = row r widened to float32 (embedding lookup).
  void row(int64_t r, float* out) const {
    GENARM_DASSERT(r >= 0 && r < rows_);
    switch (dtype_) {
      case DType::kF32:
        std::memcpy(out, f32() + r * cols_, sizeof(float) * static_cast<size_t>(cols_));
        break;
      case DType::kBF16: detail::widen_row<detail::WeightFormat::kBF16>(u16() + r * cols_, out, cols_); break;
      default: detail::widen_row<detail::WeightFormat::kF16>(u16() + r * cols_, out, cols_); break;
    }
  }

  // y[r] = sum_c W[r, c] x[c] for r in [begin, end).
  void matvec_rows(const float* x, float* y, int64_t begin, int64_t end) const {
    if (begin >= end) return;
    switch (dtype_) {
      case DType::kF32: detail::matvec_rows<detail::WeightFormat::kF32>(data_, cols_, x, y, begin, end); break;
      case DType::kBF16: detail::matvec_rows<detail::WeightFormat::kBF16>(data_, cols_, x, y, begin, end); break;
      default: detail::matvec_rows<detail::WeightFormat::kF16>(data_, cols_, x, y, begin, end); break;
    }
  }

  // y = W x (x has cols() floats, y has rows()).
  void matvec(const float* x, float* y, ThreadPool* pool) const {
    if (pool == nullptr || pool->size() == 1 || rows_ * cols_ < kParallelThreshold) {
      matvec_rows(x, y, 0, rows_);
      return;
    }
    pool->parallel_for(
        static_cast<size_t>(rows_),
        [&](size_t begin, size_t end) {
          matvec_rows(x, y, static_cast<int64_t>(begin), static_cast<int64_t>(end));
        },
        kRowGrain);
  }

  // Y[n, rows] = X[n, cols] W^T, row-major X and Y with leading dimensions ldx, ldy.
  void matmul(const float* x, int64_t n, int64_t ldx, float* y, int64_t ldy, ThreadPool* pool) const {
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

 private:
  static constexpr int64_t kParallelThreshold = 1 << 15;  // smaller products are not worth a sync
  static constexpr size_t kRowGrain = 16;
  static constexpr int64_t kTileRows = 64;  // rows widened at a time for 16-bit prefill

  const float* f32() const { return static_cast<const float*>(data_); }
  const uint16_t* u16() const { return static_cast<const uint16_t*>(data_); }

  // Y[:, begin:end] = X W[begin:end]^T
  void matmul_rows(const float* x, int64_t n, int64_t ldx, float* y, int64_t ldy, int64_t begin,
                   int64_t end) const {
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

  DType dtype_ = DType::kF32;
  int64_t rows_ = 0;  // out features
  int64_t cols_ = 0;  // in features
  const void* data_ = nullptr;
  std::shared_ptr<const void> keepalive_;
};

}  // namespace genarm::model
