// WeightMatrix: one read-only weight matrix in nn.Linear layout [rows = out, cols = in], stored as
// F32, F16 or BF16 — viewed in place inside the memory-mapped checkpoint whenever possible (no
// copy), or owned when the checkpoint's layout had to change (GPT-2 Conv1D weights are [in, out])
// — or as Q8_0 / Q4_0 blocks quantised at load, repacked into panels of 16 rows
// (detail/quant_panel.hpp) for the integer kernels.
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
#include <string_view>
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

// How a weight matrix is kept in memory: float32, the two 16-bit floats (read as stored and
// widened exactly), or llama.cpp's 8-bit / 4-bit blocks (32 weights and one fp16 scale each; see
// detail/quant.hpp).
enum class WeightType { kF32, kF16, kBF16, kQ8_0, kQ4_0 };

inline constexpr std::string_view weight_type_name(WeightType t) {
  switch (t) {
    case WeightType::kF32: return "f32";
    case WeightType::kF16: return "f16";
    case WeightType::kBF16: return "bf16";
    case WeightType::kQ8_0: return "q8_0";
    case WeightType::kQ4_0: return "q4_0";
  }
  return "?";
}
inline constexpr bool is_quantized(WeightType t) { return t == WeightType::kQ8_0 || t == WeightType::kQ4_0; }
// The type a checkpoint tensor of `dtype` (F32, F16 or BF16) is read as.
inline constexpr WeightType weight_type_of(DType dtype) {
  return dtype == DType::kBF16 ? WeightType::kBF16 : dtype == DType::kF16 ? WeightType::kF16 : WeightType::kF32;
}

class WeightMatrix {
 public:
  WeightMatrix() = default;

  // Views `bytes` (rows x cols elements of `dtype`, row-major) without copying; `keepalive` owns them.
  static WeightMatrix view(DType dtype, int64_t rows, int64_t cols, const void* data,
                           std::shared_ptr<const void> keepalive) {
    return view(weight_type_of(dtype), rows, cols, data, std::move(keepalive));
  }
  static WeightMatrix view(WeightType type, int64_t rows, int64_t cols, const void* data,
                           std::shared_ptr<const void> keepalive) {
    WeightMatrix m;
    m.type_ = type;
    m.rows_ = rows;
    m.cols_ = cols;
    m.data_ = data;
    m.keepalive_ = std::move(keepalive);
    return m;
  }
  // Takes ownership of a raw buffer of matrix_bytes(type, rows, cols): row-major floats, or for Q8_0 /
  // Q4_0 the panels of detail/quant_panel.hpp (views of quantised data expect that layout too).
  static WeightMatrix owned(DType dtype, int64_t rows, int64_t cols, LargePageBuffer bytes) {
    return owned(weight_type_of(dtype), rows, cols, std::move(bytes));
  }
  static WeightMatrix owned(WeightType type, int64_t rows, int64_t cols, LargePageBuffer bytes) {
    auto storage = std::make_shared<const LargePageBuffer>(std::move(bytes));
    GENARM_ASSERT(storage->size() == matrix_bytes(type, rows, cols));
    return view(type, rows, cols, storage->data(), storage);
  }

  // Bytes of a stored rows x cols matrix (quantised rows are padded to whole blocks, and their
  // count to whole panels of 16).
  static size_t matrix_bytes(WeightType type, int64_t rows, int64_t cols);

  bool empty() const { return data_ == nullptr; }
  const void* data_ptr() const { return data_; }
  WeightType type() const { return type_; }
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  size_t bytes() const { return matrix_bytes(type_, rows_, cols_); }

  // A copy kept as `type`: floats widened (exact) or rounded to nearest-even, or quantised to
  // Q8_0 / Q4_0 blocks exactly as llama.cpp's reference quantisers do. Rows are converted in
  // parallel on `pool`. The same type returns a copy sharing the storage.
  WeightMatrix converted(WeightType type, ThreadPool* pool = nullptr) const;

  // out[0..cols) = row r as float32 (embedding lookup; quantised rows dequantised).
  void row(int64_t r, float* out) const;

  // Y[t, r] = sum_c W[r, c] X[t, c] for the n rows of X (row-major, leading dimension ldx) and
  // every row r of W (Y row-major, leading dimension ldy): decode (n = 1), a batch of sequences'
  // next tokens, or a chunk of a prompt. Each weight row is read once per call; each element of Y
  // is computed in the same order whatever n and the thread split (see detail/matmul.hpp).
  void matmul(const float* x, int64_t n, int64_t ldx, float* y, int64_t ldy, ThreadPool* pool) const;
  // The same for weight rows [begin, end) only (the part of one thread).
  void matmul_rows(const float* x, int64_t n, int64_t ldx, float* y, int64_t ldy, int64_t begin,
                   int64_t end) const;
  // Quantised matrices quantise the rows of X to Q8_0 first (as llama.cpp does), per row, so a row's
  // result still depends on that row only.
  // y = W x (x has cols() floats, y has rows()): matmul with n = 1.
  void matvec(const float* x, float* y, ThreadPool* pool) const { matmul(x, 1, cols_, y, rows_, pool); }

 private:
  static constexpr int64_t kParallelThreshold = 1 << 15;  // smaller products are not worth a sync
  static constexpr size_t kRowGrain = 16;  // rows per chunk claimed by a thread (whole tiles)

  // Rows [begin, end) of a quantised product, from activations already quantised to Q8_0.
  void quantized_matmul_rows(const void* xq, int64_t n, float* y, int64_t ldy, int64_t begin, int64_t end) const;

  // Row r of a float matrix.
  const void* row_data(int64_t r) const {
    return static_cast<const char*>(data_) + static_cast<size_t>(r * cols_) * (type_ == WeightType::kF32 ? 4 : 2);
  }

  WeightType type_ = WeightType::kF32;
  int64_t rows_ = 0;  // out features
  int64_t cols_ = 0;  // in features
  const void* data_ = nullptr;
  std::shared_ptr<const void> keepalive_;
};

}  // namespace genarm::model

#if defined(GENARM_HEADER_ONLY)
#include "genarm/model/weight_matrix-inl.hpp"
#endif
