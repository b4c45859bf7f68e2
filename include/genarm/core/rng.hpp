// genarm::Rng — a seeded random number generator whose draws are the same on every platform.
//
// xoshiro256** (Blackman & Vigna, "Scrambled linear pseudorandom number generators", 2021;
// https://prng.di.unimi.it/) seeded through splitmix64. Everything here is integer arithmetic on
// uint64_t plus one exact conversion to double, so a seed reproduces the same draws with any
// compiler and standard library; std::*_distribution is deliberately not used, because its
// algorithms differ between libstdc++, libc++ and MSVC.
#pragma once

#include <array>
#include <cstdint>

#include "genarm/core/error.hpp"

namespace genarm {

namespace detail {

// One splitmix64 step (Steele, Lea & Flood, "Fast splittable pseudorandom number generators",
// 2014): advances `state` by the golden-ratio increment and returns the mixed value.
inline uint64_t splitmix64_next(uint64_t& state) {
  state += 0x9e3779b97f4a7c15ULL;
  uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

inline uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace detail

// A xoshiro256** generator: 256 bits of state, period 2^256 - 1.
// Owns its state by value; copying a generator copies its position in the stream.
// Thread-compatible: one generator per thread (or per sequence), never shared without a lock.
class Rng {
 public:
  using State = std::array<uint64_t, 4>;

  // The four state words are four consecutive splitmix64 outputs from `seed`, the seeding the
  // xoshiro authors recommend (it never yields the forbidden all-zero state).
  explicit Rng(uint64_t seed = 0) {
    uint64_t sm = seed;
    for (uint64_t& word : state_) word = detail::splitmix64_next(sm);
  }

  // A generator at an explicit state (for tests against published vectors, or to resume).
  static Rng from_state(const State& state) {
    if (state[0] == 0 && state[1] == 0 && state[2] == 0 && state[3] == 0) {
      fail(ErrorCategory::kInvalidArgument, "Rng state must not be all zero");
    }
    Rng rng;
    rng.state_ = state;
    return rng;
  }

  const State& state() const { return state_; }

  // The next 64 uniformly distributed bits.
  uint64_t next() {
    const uint64_t result = detail::rotl64(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = detail::rotl64(state_[3], 45);
    return result;
  }

  // Uniform in [0, 1): the top 53 bits scaled by 2^-53, so every value is an exact multiple of
  // 2^-53 and 1 is never returned.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  // Uniform integer in [0, n), without modulo bias: draws below 2^64 mod n are rejected so the
  // accepted range is a whole number of copies of [0, n).
  uint64_t below(uint64_t n) {
    if (n == 0) fail(ErrorCategory::kInvalidArgument, "Rng::below(n) needs n > 0, got 0");
    const uint64_t threshold = (0 - n) % n;  // 2^64 mod n
    for (;;) {
      const uint64_t r = next();
      if (r >= threshold) return r % n;
    }
  }

  // An independent generator for sub-stream `stream` (one per sequence of a batch, say). The child
  // is seeded from a splitmix64 hash of this generator's current state and `stream`; this
  // generator does not advance. Different streams are unrelated in the same sense as different
  // seeds (hash-derived, not a provably disjoint jump).
  Rng fork(uint64_t stream) const {
    uint64_t key = stream;
    for (const uint64_t word : state_) {
      uint64_t mixed = key ^ word;
      key = detail::splitmix64_next(mixed);
    }
    return Rng(key);
  }

  friend bool operator==(const Rng& a, const Rng& b) { return a.state_ == b.state_; }

 private:
  State state_{};
};

}  // namespace genarm
