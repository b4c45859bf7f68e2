// ThreadPool: a fixed set of worker threads for the data-parallel loops of a forward pass
// (matrix-vector rows, attention heads). Workers spin briefly and then sleep on an atomic wait,
// so the many short parallel regions of one decode step cost about a microsecond each.
// Ownership: owns its threads; joined by the destructor.
// Thread-safety: thread-compatible — one caller at a time (give each generating thread its own
// pool, or none). A parallel_for body must not throw and must not call parallel_for.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <type_traits>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define GENARM_CPU_RELAX() _mm_pause()
#else
#define GENARM_CPU_RELAX() std::this_thread::yield()
#endif

namespace genarm {

class ThreadPool {
 public:
  // `num_threads` counts the calling thread: 1 runs everything inline, 0 means all hardware threads.
  explicit ThreadPool(size_t num_threads = 1) {
    if (num_threads == 0) num_threads = std::max(1u, std::thread::hardware_concurrency());
    size_ = num_threads;
    workers_.reserve(num_threads - 1);
    for (size_t i = 1; i < num_threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
  }
  ~ThreadPool() {
    stop_.store(true, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
    generation_.notify_all();
    for (auto& t : workers_) t.join();
  }
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  size_t size() const { return size_; }

  // Calls fn(begin, end) — or fn(begin, end, chunk) with chunk in [0, size()), for per-thread
  // scratch — on size() contiguous chunks of [0, n), in parallel; returns when all are done.
  // Chunk boundaries are multiples of `grain` (except the last) so that SIMD blocks stay whole.
  template <typename Fn>
  void parallel_for(size_t n, Fn&& fn, size_t grain = 1) {
    if (n == 0) return;
    const size_t blocks = (n + grain - 1) / grain;
    const size_t active = std::min(size_, blocks);
    if (active <= 1) {
      call(fn, 0, n, 0);
      return;
    }
    job_ = Job{&invoke<std::remove_reference_t<Fn>>, const_cast<void*>(static_cast<const void*>(&fn)), n,
               grain, blocks, active};
    pending_.store(active - 1, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
    generation_.notify_all();
    run_chunk(0);
    while (pending_.load(std::memory_order_acquire) != 0) GENARM_CPU_RELAX();
  }

 private:
  struct Job {
    void (*function)(void*, size_t, size_t, size_t) = nullptr;
    void* context = nullptr;
    size_t n = 0, grain = 1, blocks = 0, active = 0;
  };

  template <typename Fn>
  static void call(Fn& fn, size_t begin, size_t end, size_t chunk) {
    if constexpr (std::is_invocable_v<Fn&, size_t, size_t, size_t>) {
      fn(begin, end, chunk);
    } else {
      fn(begin, end);
    }
  }
  template <typename Fn>
  static void invoke(void* context, size_t begin, size_t end, size_t chunk) {
    call(*static_cast<Fn*>(context), begin, end, chunk);
  }

  void run_chunk(size_t index) {
    const Job& job = job_;
    if (index >= job.active) return;
    const size_t begin_block = job.blocks * index / job.active;
    const size_t end_block = job.blocks * (index + 1) / job.active;
    const size_t begin = begin_block * job.grain;
    const size_t end = std::min(job.n, end_block * job.grain);
    if (begin < end) job.function(job.context, begin, end, index);
  }

  void worker_loop(size_t index) {
    uint64_t seen = 0;
    for (;;) {
      uint64_t current = generation_.load(std::memory_order_acquire);
      for (int spin = 0; current == seen && spin < kSpinIterations; ++spin) {
        GENARM_CPU_RELAX();
        current = generation_.load(std::memory_order_acquire);
      }
      while (current == seen) {
        generation_.wait(seen, std::memory_order_acquire);
        current = generation_.load(std::memory_order_acquire);
      }
      seen = current;
      if (stop_.load(std::memory_order_relaxed)) return;
      if (index < job_.active) {
        run_chunk(index);
        pending_.fetch_sub(1, std::memory_order_acq_rel);
      }
    }
  }

  static constexpr int kSpinIterations = 1 << 14;

  size_t size_ = 1;
  std::vector<std::thread> workers_;
  Job job_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<size_t> pending_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace genarm
