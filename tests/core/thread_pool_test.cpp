#include "genarm/core/thread_pool.hpp"

#include <numeric>
#include <vector>

#include "test_support.hpp"

namespace genarm {
namespace {

TEST(ThreadPool, CoversEveryIndexExactlyOnce) {
  for (size_t threads : {1u, 2u, 3u, 5u}) {
    ThreadPool pool(threads);
    for (size_t n : {0u, 1u, 2u, 7u, 100u, 1001u}) {
      std::vector<int> hits(n, 0);
      pool.parallel_for(n, [&](size_t begin, size_t end) {
        for (size_t i = begin; i < end; ++i) ++hits[i];
      });
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(hits[i], 1) << "threads " << threads << " n " << n;
    }
  }
}

TEST(ThreadPool, ChunksRespectGrain) {
  ThreadPool pool(3);
  std::vector<std::pair<size_t, size_t>> chunks(3, {0, 0});
  std::atomic<int> calls{0};
  pool.parallel_for(
      100,
      [&](size_t begin, size_t end) {
        EXPECT_EQ(begin % 16, 0u);
        EXPECT_TRUE(end % 16 == 0 || end == 100);
        ++calls;
      },
      16);
  EXPECT_EQ(calls.load(), 3);
}

TEST(ThreadPool, ManyShortRegionsSumCorrectly) {
  ThreadPool pool(2);
  std::vector<double> data(4096);
  std::iota(data.begin(), data.end(), 0.0);
  for (int rep = 0; rep < 2000; ++rep) {
    double partial[2] = {0, 0};
    pool.parallel_for(data.size(), [&](size_t begin, size_t end) {
      double s = 0;
      for (size_t i = begin; i < end; ++i) s += data[i];
      partial[begin == 0 ? 0 : 1] = s;
    });
    ASSERT_EQ(partial[0] + partial[1], 4095.0 * 4096.0 / 2.0);
  }
}

TEST(ThreadPool, ZeroMeansHardwareThreads) {
  ThreadPool pool(0);
  EXPECT_GE(pool.size(), 1u);
}

}  // namespace
}  // namespace genarm
