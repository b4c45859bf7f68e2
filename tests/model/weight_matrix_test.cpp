#include "genarm/model/weight_matrix.hpp"

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <ostream>
#include <vector>

#include "genarm/core/half.hpp"
#include "genarm/core/thread_pool.hpp"
#include "genarm/model/detail/matmul.hpp"
#include "model_test_helpers.hpp"

namespace genarm::model {
namespace {

// A random matrix stored in `dtype`, with the float32 values the stored bits stand for.
struct TestMatrix {
  WeightMatrix matrix;
  std::vector<float> values;  // row-major, exactly the widened stored values
};

float noise(uint64_t& state) {
  state = state * 6364136223846793005ull + 1442695040888963407ull;
  return static_cast<float>(static_cast<double>(state >> 11) * 0x1.0p-53 * 2.0 - 1.0);
}

TestMatrix make_matrix(DType dtype, int64_t rows, int64_t cols, uint64_t seed) {
  TestMatrix m;
  m.values.resize(static_cast<size_t>(rows * cols));
  LargePageBuffer bytes(m.values.size() * dtype_size(dtype));
  for (size_t i = 0; i < m.values.size(); ++i) {
    const float v = noise(seed);
    if (dtype == DType::kF32) {
      m.values[i] = v;
      std::memcpy(bytes.data() + 4 * i, &v, 4);
    } else {
      const uint16_t h = dtype == DType::kF16 ? float_to_f16(v) : float_to_bf16(v);
      m.values[i] = dtype == DType::kF16 ? f16_to_float(h) : bf16_to_float(h);
      std::memcpy(bytes.data() + 2 * i, &h, 2);
    }
  }
  m.matrix = WeightMatrix::owned(dtype, rows, cols, std::move(bytes));
  return m;
}

std::vector<float> random_vector(size_t n, uint64_t seed) {
  std::vector<float> v(n);
  for (auto& e : v) e = noise(seed);
  return v;
}

// Expects y[r] = sum_c W[r, c] x[c] to float32 accuracy: the error bound scales with sum |W x|.
void expect_products_near(const TestMatrix& m, const float* x, const float* y, int64_t rows, int64_t cols,
                          const std::string& what) {
  for (int64_t r = 0; r < rows; ++r) {
    double exact = 0, magnitude = 0;
    for (int64_t c = 0; c < cols; ++c) {
      const double p = static_cast<double>(m.values[static_cast<size_t>(r * cols + c)]) * x[c];
      exact += p;
      magnitude += std::abs(p);
    }
    ASSERT_NEAR(y[r], exact, 1e-6 * magnitude + 1e-30) << what << ", row " << r;
  }
}

struct Shape {
  int64_t rows, cols;
};
std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << s.rows << "x" << s.cols; }

// Odd sizes around the kernels' 4-row groups, 16/32-lane bodies and 16-row thread grain, and a few
// large enough (>= 32768 elements) for matvec to go parallel.
// Columns cover every remainder class of a 16-lane pair of blocks: one partial block, exactly one
// whole block (24, 40), a whole and a partial one (25, 31).
const std::vector<Shape> kShapes = {{1, 1},    {3, 5},     {4, 31},    {5, 32},     {7, 33},   {17, 64},
                                    {9, 24},   {6, 25},    {11, 40},   {37, 129},   {63, 100}, {257, 131},
                                    {300, 211}, {1001, 37}, {45, 1031}};
constexpr DType kDtypes[] = {DType::kF32, DType::kF16, DType::kBF16};

TEST(WeightMatrix, MatvecMatchesNaiveLoopForOddSizes) {
  ThreadPool two(2), three(3);
  for (DType dtype : kDtypes) {
    for (const Shape& s : kShapes) {
      const auto m = make_matrix(dtype, s.rows, s.cols, static_cast<uint64_t>(s.rows * 1000 + s.cols));
      const auto x = random_vector(static_cast<size_t>(s.cols), 5);
      for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &two, &three}) {
        std::vector<float> y(static_cast<size_t>(s.rows), std::numeric_limits<float>::quiet_NaN());
        m.matrix.matvec(x.data(), y.data(), pool);
        std::ostringstream what;
        what << dtype_name(dtype) << " " << s << " threads " << (pool ? pool->size() : 0);
        expect_products_near(m, x.data(), y.data(), s.rows, s.cols, what.str());
      }
    }
  }
}

TEST(WeightMatrix, MatvecIsTheSameWithAndWithoutThreads) {
  ThreadPool pool(2);
  for (DType dtype : kDtypes) {
    const auto m = make_matrix(dtype, 301, 257, 3);
    const auto x = random_vector(257, 4);
    std::vector<float> serial(301), threaded(301);
    m.matrix.matvec(x.data(), serial.data(), nullptr);
    m.matrix.matvec(x.data(), threaded.data(), &pool);
    EXPECT_EQ(serial, threaded) << dtype_name(dtype);
  }
}

TEST(WeightMatrix, MatmulMatchesNaiveLoopWithStrides) {
  ThreadPool pool(2);
  for (DType dtype : kDtypes) {
    for (const Shape& s : kShapes) {
      const auto m = make_matrix(dtype, s.rows, s.cols, static_cast<uint64_t>(s.rows + 7 * s.cols));
      for (int64_t n : {1, 2, 3, 17, 70}) {
        // X rows padded to ldx with NaN (must never be read); Y rows padded to ldy with a sentinel
        // (must never be written).
        const int64_t ldx = s.cols + 3, ldy = s.rows + 5;
        std::vector<float> x(static_cast<size_t>(n * ldx), std::numeric_limits<float>::quiet_NaN());
        for (int64_t i = 0; i < n; ++i) {
          const auto row = random_vector(static_cast<size_t>(s.cols), static_cast<uint64_t>(i + 1));
          std::copy(row.begin(), row.end(), x.begin() + i * ldx);
        }
        for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
          std::vector<float> y(static_cast<size_t>(n * ldy), -12345.0f);
          m.matrix.matmul(x.data(), n, ldx, y.data(), ldy, p);
          std::ostringstream what;
          what << dtype_name(dtype) << " " << s << " n " << n << (p ? " threaded" : "");
          for (int64_t i = 0; i < n; ++i) {
            expect_products_near(m, x.data() + i * ldx, y.data() + i * ldy, s.rows, s.cols,
                                 what.str() + ", input row " + std::to_string(i));
            for (int64_t pad = s.rows; pad < ldy; ++pad) {
              ASSERT_EQ(y[static_cast<size_t>(i * ldy + pad)], -12345.0f) << what.str() << ": wrote past its row";
            }
          }
        }
      }
    }
  }
}

// Batch invariance at the kernel: every row of a product with n activation rows has exactly the
// bits of the matrix-vector product of that row alone, for every n (n > 1 runs the wide tiles,
// with AVX-512 the paired 16-lane ones), odd sizes and tails included, with and without threads.
TEST(WeightMatrix, MatmulRowsHaveTheMatvecBitsForEveryBatchSize) {
  ThreadPool pool(2);
  for (DType dtype : kDtypes) {
    for (const Shape& s : kShapes) {
      const auto m = make_matrix(dtype, s.rows, s.cols, static_cast<uint64_t>(3 * s.rows + s.cols));
      for (int64_t n : {2, 3, 4, 5, 6, 7, 8, 13}) {
        std::vector<float> x(static_cast<size_t>(n * s.cols));
        for (int64_t i = 0; i < n; ++i) {
          const auto row = random_vector(static_cast<size_t>(s.cols), static_cast<uint64_t>(100 + i));
          std::copy(row.begin(), row.end(), x.begin() + i * s.cols);
        }
        for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
          std::vector<float> y(static_cast<size_t>(n * s.rows)), alone(static_cast<size_t>(s.rows));
          m.matrix.matmul(x.data(), n, s.cols, y.data(), s.rows, p);
          for (int64_t i = 0; i < n; ++i) {
            m.matrix.matvec(x.data() + i * s.cols, alone.data(), nullptr);
            ASSERT_EQ(std::memcmp(alone.data(), y.data() + i * s.rows, alone.size() * sizeof(float)), 0)
                << dtype_name(dtype) << " " << s << " n " << n << " row " << i << (p ? " threaded" : "");
          }
        }
      }
    }
  }
}

// A prefill-sized product: rows longer than one column pass (partial sums carried between passes,
// a tail in the last one) and more activation rows than one cache block holds (140 rows: two
// blocks with AVX-512; 600: two with AVX2's larger ones).
TEST(WeightMatrix, LongPrefillMatmulHasTheMatvecBits) {
  ThreadPool pool(2);
  const int64_t rows = 45, cols = 2100;
  for (int64_t n : {140, 600}) {
    for (DType dtype : kDtypes) {
      const auto m = make_matrix(dtype, rows, cols, 11);
      std::vector<float> x(static_cast<size_t>(n * cols));
      for (int64_t i = 0; i < n; ++i) {
        const auto row = random_vector(static_cast<size_t>(cols), static_cast<uint64_t>(500 + i));
        std::copy(row.begin(), row.end(), x.begin() + i * cols);
      }
      for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
        std::vector<float> y(static_cast<size_t>(n * rows)), alone(static_cast<size_t>(rows));
        m.matrix.matmul(x.data(), n, cols, y.data(), rows, p);
        for (int64_t i = 0; i < n; ++i) {
          m.matrix.matvec(x.data() + i * cols, alone.data(), nullptr);
          ASSERT_EQ(std::memcmp(alone.data(), y.data() + i * rows, alone.size() * sizeof(float)), 0)
              << dtype_name(dtype) << " n " << n << " row " << i << (p ? " threaded" : "");
          expect_products_near(m, x.data() + i * cols, alone.data(), rows, cols, std::string(dtype_name(dtype)));
        }
      }
    }
  }
}

// Weights as mmapped checkpoints give them (a view at any element offset, not 32-byte aligned) and
// activation rows at an odd stride: the prefill kernel copies both into aligned panels, so the
// products still have the matvec bits of the aligned, owned matrix.
TEST(WeightMatrix, PrefillOnMisalignedViewsHasTheMatvecBits) {
  ThreadPool pool(2);
  const int64_t rows = 37, cols = 1100, n = 20, ldx = cols + 1;
  for (DType dtype : kDtypes) {
    const auto m = make_matrix(dtype, rows, cols, 17);
    const size_t size = dtype_size(dtype);
    auto storage = std::make_shared<std::vector<unsigned char>>(m.matrix.bytes() + 64);
    for (size_t offset : {size, 3 * size}) {
      std::memcpy(storage->data() + offset, m.matrix.data_ptr(), m.matrix.bytes());
      const auto view = WeightMatrix::view(dtype, rows, cols, storage->data() + offset, storage);
      std::vector<float> x(static_cast<size_t>(n * ldx + 1), std::numeric_limits<float>::quiet_NaN());
      for (int64_t i = 0; i < n; ++i) {
        const auto row = random_vector(static_cast<size_t>(cols), static_cast<uint64_t>(900 + i));
        std::copy(row.begin(), row.end(), x.begin() + 1 + i * ldx);
      }
      for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
        std::vector<float> y(static_cast<size_t>(n * rows)), alone(static_cast<size_t>(rows));
        view.matmul(x.data() + 1, n, ldx, y.data(), rows, p);
        for (int64_t i = 0; i < n; ++i) {
          m.matrix.matvec(x.data() + 1 + i * ldx, alone.data(), nullptr);
          ASSERT_EQ(std::memcmp(alone.data(), y.data() + i * rows, alone.size() * sizeof(float)), 0)
              << dtype_name(dtype) << " offset " << offset << " row " << i << (p ? " threaded" : "");
        }
      }
    }
  }
}

// Attention's kernels over a prompt: one query against many keys (dot_rows) and the weighted sum
// of many value rows (axpy_rows) give the bits of the one-pair-at-a-time functions decoding uses
// (so a prefilled prompt and the same prompt decoded token by token agree), and the products
// themselves within float32 rounding of a double-precision sum.
TEST(WeightMatrix, AttentionKernelsHaveTheBitsOfOneRowAtATime) {
  for (int64_t d : {1, 7, 8, 15, 16, 24, 25, 31, 32, 33, 64, 80, 128}) {
    for (int64_t count : {0, 1, 3, 4, 5, 9, 37}) {
      const auto rows = random_vector(static_cast<size_t>(count * d), static_cast<uint64_t>(7 * d + count));
      const auto q = random_vector(static_cast<size_t>(d), static_cast<uint64_t>(d));
      const auto a = random_vector(static_cast<size_t>(count), static_cast<uint64_t>(1000 + count));
      const auto start = random_vector(static_cast<size_t>(d), static_cast<uint64_t>(2000 + d));
      std::vector<float> scores(static_cast<size_t>(count) + 1, -1.0f);
      detail::dot_rows(q.data(), rows.data(), d, count, scores.data());
      std::vector<float> y = start, one_by_one = start;
      detail::axpy_rows(a.data(), rows.data(), d, count, y.data());
      for (int64_t j = 0; j < count; ++j) {
        const float* row = rows.data() + j * d;
        const float expected = detail::dot(q.data(), row, d);
        ASSERT_EQ(std::memcmp(&expected, &scores[static_cast<size_t>(j)], sizeof(float)), 0)
            << "d " << d << " count " << count << " key " << j;
        double exact = 0, magnitude = 0;
        for (int64_t i = 0; i < d; ++i) {
          exact += static_cast<double>(q[static_cast<size_t>(i)]) * row[i];
          magnitude += std::abs(static_cast<double>(q[static_cast<size_t>(i)]) * row[i]);
        }
        ASSERT_NEAR(scores[static_cast<size_t>(j)], exact, 1e-6 * magnitude + 1e-30);
        detail::axpy(a[static_cast<size_t>(j)], row, one_by_one.data(), d);
      }
      EXPECT_EQ(scores[static_cast<size_t>(count)], -1.0f) << "dot_rows wrote past its count";
      ASSERT_EQ(std::memcmp(y.data(), one_by_one.data(), y.size() * sizeof(float)), 0)
          << "d " << d << " count " << count;
      for (int64_t i = 0; i < d; ++i) {
        double exact = start[static_cast<size_t>(i)], magnitude = std::abs(exact);
        for (int64_t j = 0; j < count; ++j) {
          const double p = static_cast<double>(a[static_cast<size_t>(j)]) * rows[static_cast<size_t>(j * d + i)];
          exact += p;
          magnitude += std::abs(p);
        }
        ASSERT_NEAR(y[static_cast<size_t>(i)], exact, 1e-6 * magnitude + 1e-30) << "d " << d << " element " << i;
      }
    }
  }
}

TEST(WeightMatrix, RowWidensStoredValues) {
  for (DType dtype : kDtypes) {
    const auto m = make_matrix(dtype, 9, 37, 21);
    std::vector<float> row(37);
    for (int64_t r = 0; r < 9; ++r) {
      m.matrix.row(r, row.data());
      for (int64_t c = 0; c < 37; ++c) {
        ASSERT_EQ(row[static_cast<size_t>(c)], m.values[static_cast<size_t>(r * 37 + c)])
            << dtype_name(dtype) << " (" << r << ", " << c << ")";
      }
    }
  }
}

TEST(WeightMatrix, ViewReadsInPlaceAndKeepsStorageAlive) {
  auto storage = std::make_shared<std::vector<float>>(std::vector<float>{1, 2, 3, 4, 5, 6});
  const auto m = WeightMatrix::view(DType::kF32, 2, 3, storage->data(), storage);
  const float x[3] = {1, 10, 100};
  float y[2];
  m.matvec(x, y, nullptr);
  EXPECT_EQ(y[0], 321.0f);
  EXPECT_EQ(y[1], 654.0f);
  (*storage)[0] = 2;  // a view, not a copy
  m.matvec(x, y, nullptr);
  EXPECT_EQ(y[0], 322.0f);
  std::weak_ptr<std::vector<float>> weak = storage;
  storage.reset();
  EXPECT_FALSE(weak.expired()) << "the matrix must keep its storage alive";
  m.matvec(x, y, nullptr);
  EXPECT_EQ(y[1], 654.0f);
}

TEST(WeightMatrix, DescribesItself) {
  const WeightMatrix none;
  EXPECT_TRUE(none.empty());
  const auto m = make_matrix(DType::kBF16, 5, 7, 1);
  EXPECT_FALSE(m.matrix.empty());
  EXPECT_EQ(m.matrix.type(), WeightType::kBF16);
  EXPECT_EQ(m.matrix.rows(), 5);
  EXPECT_EQ(m.matrix.cols(), 7);
  EXPECT_EQ(m.matrix.bytes(), 5u * 7u * 2u);
}

TEST(WeightMatrix, ConvertedNarrowsWidensAndQuantizes) {
  const TestMatrix m = make_matrix(DType::kF32, 13, 77, 21);
  ThreadPool pool(2);
  // Narrowing rounds each value as float_to_bf16 / float_to_f16 do; widening back is exact.
  const auto bf16 = m.matrix.converted(WeightType::kBF16, &pool);
  const auto f16 = m.matrix.converted(WeightType::kF16);
  std::vector<float> row(77);
  for (int64_t r = 0; r < 13; ++r) {
    bf16.row(r, row.data());
    for (int64_t c = 0; c < 77; ++c) {
      EXPECT_EQ(row[static_cast<size_t>(c)], bf16_to_float(float_to_bf16(m.values[static_cast<size_t>(r * 77 + c)])));
    }
    f16.row(r, row.data());
    for (int64_t c = 0; c < 77; ++c) {
      EXPECT_EQ(row[static_cast<size_t>(c)], f16_to_float(float_to_f16(m.values[static_cast<size_t>(r * 77 + c)])));
    }
  }
  EXPECT_EQ(bf16.bytes(), 13u * 77 * 2);
  // Quantised: rows padded to whole blocks of 32 and to a whole panel of 16 rows; products against
  // a naive loop over the dequantised weights, within the activation quantisation's error.
  for (WeightType type : {WeightType::kQ8_0, WeightType::kQ4_0}) {
    const auto q = m.matrix.converted(type, &pool);
    EXPECT_EQ(q.bytes(), 16u * 3 * (type == WeightType::kQ8_0 ? 34 : 18));
    std::vector<float> x(77 * 3), y(13 * 3), y_threaded(13 * 3);
    uint64_t seed = 5;
    for (float& v : x) v = noise(seed);
    q.matmul(x.data(), 3, 77, y.data(), 13, nullptr);
    q.matmul(x.data(), 3, 77, y_threaded.data(), 13, &pool);
    EXPECT_EQ(std::memcmp(y.data(), y_threaded.data(), y.size() * sizeof(float)), 0);
    for (int64_t t = 0; t < 3; ++t) {
      for (int64_t r = 0; r < 13; ++r) {
        q.row(r, row.data());
        double want = 0, scale = 0;
        for (int64_t c = 0; c < 77; ++c) {
          want += static_cast<double>(row[static_cast<size_t>(c)]) * x[static_cast<size_t>(t * 77 + c)];
          scale += std::abs(static_cast<double>(row[static_cast<size_t>(c)]));
        }
        // |x| <= 1, so its Q8_0 rounding moves each term by at most |w| / 254.
        EXPECT_NEAR(y[static_cast<size_t>(t * 13 + r)], want, scale / 254 + 1e-5) << weight_type_name(type);
      }
    }
  }
  EXPECT_EQ(m.matrix.converted(WeightType::kF32).data_ptr(), m.matrix.data_ptr());  // same type: shared
}

TEST(WeightMatrix, OwnedRejectsAWrongByteCount) {
  GENARM_EXPECT_ERROR(WeightMatrix::owned(DType::kF32, 2, 3, LargePageBuffer(20)), ErrorCategory::kInternal,
                      "assertion failed");
}

}  // namespace
}  // namespace genarm::model
