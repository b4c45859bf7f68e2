// WeightMatrix: one read-only weight matrix in nn.Linear layout [rows = out, cols = in], stored as
// F32, F16 or BF16 — viewed in place inside the memory-mapped checkpoint whenever possible (no
// copy), or owned when the checkpoint's layout had to change (GPT-2 Conv1D weights are [in, out]).
// Products Y = X W^T are computed in float32 by one batch-invariant kernel for any number of rows
// of X (decode, batched decode, prefill), split by weight rows over a ThreadPool.
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

#include "genarm/core/compiled.hpp"
#include "genarm/core/dtype.hpp"
#include "genarm/core/error.hpp"
#include "genarm/core/half.hpp"
#include "genarm/core/large_page_buffer.hpp"
#include "genarm/core/thread_pool.hpp"

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
  void row(int64_t r, float* out) const;

  // Y[t, r] = sum_c W[r, c] X[t, c] for the n rows of X (row-major, leading dimension ldx) and
  // every row r of W (Y row-major, leading dimension ldy): decode (n = 1), a batch of sequences'
  // next tokens, or a chunk of a prompt. Each weight row is read once per call; each element of Y
  // is computed in the same order whatever n and the thread split (see detail/kernels.hpp).
  void matmul(const float* x, int64_t n, int64_t ldx, float* y, int64_t ldy, ThreadPool* pool) const;
  // The same for weight rows [begin, end) only (the part of one thread).
  void matmul_rows(const float* x, int64_t n, int64_t ldx, float* y, int64_t ldy, int64_t begin,
                   int64_t end) const;
  // y = W x (x has cols() floats, y has rows()): matmul with n = 1.
  void matvec(const float* x, float* y, ThreadPool* pool) const { matmul(x, 1, cols_, y, rows_, pool); }

 private:
  static constexpr int64_t kParallelThreshold = 1 << 15;  // smaller products are not worth a sync
  static constexpr size_t kRowGrain = 16;  // rows per chunk claimed by a thread (whole tiles)

  const float* f32() const { return static_cast<const float*>(data_); }
  const uint16_t* u16() const { return static_cast<const uint16_t*>(data_); }

  DType dtype_ = DType::kF32;
  int64_t rows_ = 0;  // out features
  int64_t cols_ = 0;  // in features
  const void* data_ = nullptr;
  std::shared_ptr<const void> keepalive_;
};

}  // namespace genarm::model

#if defined(GENARM_HEADER_ONLY)
#include "genarm/model/weight_matrix-inl.hpp"
#endif
