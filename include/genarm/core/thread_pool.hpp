// ThreadPool: a fixed set of worker threads for the data-parallel loops of a forward pass
// (matrix-vector rows, attention heads). A loop is split into fixed chunks that the caller and the
// workers claim from a shared counter: the caller never waits for a worker that has not started
// (a busy or oversubscribed machine degrades to single-threaded speed, not to scheduler
// latency), and since chunk boundaries do not depend on who runs them, results are identical for
// any number of threads. Idle workers spin briefly, then sleep on an atomic wait.
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
    size_ = std::min<size_t>(num_threads, kMaxThreads);
    workers_.reserve(size_ - 1);
    for (size_t i = 1; i < size_; ++i) workers_.emplace_back([this] { worker_loop(); });
  }
  ~ThreadPool() {
    stop_.store(true, std::memory_order_relaxed);
    wake_.fetch_add(1, std::memory_order_release);
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  size_t size() const { return size_; }

  // Calls fn(begin, end) — or fn(begin, end, chunk), chunk in [0, size()), for per-chunk scratch —
  // on at most size() contiguous chunks of [0, n), in parallel; returns when all are done. Chunk
  // boundaries are multiples of `grain` (except the last) so that SIMD blocks stay whole.
  template <typename Fn>
  void parallel_for(size_t n, Fn&& fn, size_t grain = 1) {
    if (n == 0) return;
    const size_t blocks = (n + grain - 1) / grain;
    const size_t chunks = std::min(size_, blocks);
    if (chunks <= 1) {
      call(fn, 0, n, 0);
      return;
    }
    job_ = Job{&invoke<std::remove_reference_t<Fn>>, const_cast<void*>(static_cast<const void*>(&fn)), n,
               grain, blocks, chunks};
    done_.store(0, std::memory_order_relaxed);
    const uint64_t generation = (claim_.load(std::memory_order_relaxed) >> 32) + 1;
    claim_.store((generation << 32) | (chunks << 16), std::memory_order_release);  // publishes job_
    wake_.fetch_add(1, std::memory_order_release);
    wake_.notify_all();
    work(generation);
    while (done_.load(std::memory_order_acquire) != chunks) GENARM_CPU_RELAX();
  }

 private:
  struct Job {
    void (*function)(void*, size_t, size_t, size_t) = nullptr;
    void* context = nullptr;
    size_t n = 0, grain = 1, blocks = 0, chunks = 0;
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

  // Claims and runs chunks of job `generation` until none is left. The claim word holds the
  // generation (bits 32-63), the job's chunk count (16-31) and the next chunk (0-15): a late worker
  // cannot claim a chunk of a newer job, and reads job_ only after a successful claim (while the
  // caller waits for that chunk, so job_ cannot change under it).
  void work(uint64_t generation) {
    for (;;) {
      uint64_t current = claim_.load(std::memory_order_acquire);
      size_t chunk = 0;
      for (;;) {
        if ((current >> 32) != generation) return;
        chunk = static_cast<size_t>(current & 0xffffu);
        if (chunk >= static_cast<size_t>((current >> 16) & 0xffffu)) return;
        if (claim_.compare_exchange_weak(current, current + 1, std::memory_order_acq_rel)) break;
      }
      const Job& job = job_;
      const size_t begin = job.blocks * chunk / job.chunks * job.grain;
      const size_t end = std::min(job.n, job.blocks * (chunk + 1) / job.chunks * job.grain);
      if (begin < end) job.function(job.context, begin, end, chunk);
      done_.fetch_add(1, std::memory_order_acq_rel);
    }
  }

  void worker_loop() {
    // 0, not the current value: a worker that starts after the pool was already woken (or told to
    // stop) must not sleep through it.
    uint64_t seen = 0;
    for (;;) {
      uint64_t current = wake_.load(std::memory_order_acquire);
      for (int spin = 0; current == seen && spin < kSpinIterations; ++spin) {
        GENARM_CPU_RELAX();
        current = wake_.load(std::memory_order_acquire);
      }
      while (current == seen) {
        wake_.wait(seen, std::memory_order_acquire);
        current = wake_.load(std::memory_order_acquire);
      }
      seen = current;
      if (stop_.load(std::memory_order_relaxed)) return;
      work(claim_.load(std::memory_order_acquire) >> 32);
    }
  }

  static constexpr int kSpinIterations = 1 << 12;
  static constexpr size_t kMaxThreads = 1024;  // chunk counts must fit the claim word's 16 bits

  size_t size_ = 1;
  std::vector<std::thread> workers_;
  Job job_;
  std::atomic<uint64_t> claim_{0};  // (generation << 32) | (chunks << 16) | next chunk
  std::atomic<size_t> done_{0};     // chunks finished in the current job
  std::atomic<uint64_t> wake_{0};   // bumped to wake sleeping workers
  std::atomic<bool> stop_{false};
};

}  // namespace genarm
