// Small helpers shared by the benchmark programs: a monotonic clock, best-of-N timing and the
// machine's read bandwidth, measured in the same process as the figures it is compared with.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include <Eigen/Core>

#include "genarm/core/large_page_buffer.hpp"
#include "genarm/core/thread_pool.hpp"

namespace genarm::bench {

inline double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

template <typename Fn>
double best_of(int repeats, Fn&& fn) {
  double best = 1e300;
  for (int i = 0; i < repeats; ++i) {
    const double t0 = now_seconds();
    fn();
    best = std::min(best, now_seconds() - t0);
  }
  return best;
}

// Read bandwidth in GB/s: a vectorised sum over `bytes` of floats, best of 5, split over `pool`.
// The buffer is a LargePageBuffer: with 4 KiB pages the TLB, not DRAM, limits a streaming read,
// and the weights the decode loop reads sit in a file mapping the kernel backs with large pages,
// so a 4 KiB figure would be a bound the decoder beats.
inline double read_bandwidth_gbs(size_t bytes, ThreadPool& pool) {
  const size_t n = bytes / sizeof(float);
  LargePageBuffer buffer(n * sizeof(float));
  float* data = reinterpret_cast<float*>(buffer.data());
  std::fill_n(data, n, 1.0f);
  volatile float sink = 0.0f;
  const double seconds = best_of(5, [&] {
    std::vector<float> partial(pool.size(), 0.0f);
    pool.parallel_for(n, [&](size_t begin, size_t end, size_t chunk) {
      partial[chunk] = Eigen::Map<const Eigen::VectorXf>(data + begin, static_cast<Eigen::Index>(end - begin)).sum();
    }, 1024);
    float total = 0.0f;
    for (float p : partial) total += p;
    sink = total;
  });
  (void)sink;
  return static_cast<double>(bytes) / seconds / 1e9;
}

}  // namespace genarm::bench
