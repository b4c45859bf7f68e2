// Cost of one full sampling step (Sampler::sample + accept: copy the logits into the candidates,
// run the chain, select) against the vocabulary size, in microseconds per step. Two tables: wall
// time, and CPU time of the process (the step is single-threaded, so on an idle machine the two
// agree; on a shared machine the CPU figure is the stable one).
//   g++ -O2 -march=native -std=c++20 -I include -I/usr/include/eigen3 bench/sampler_bench.cpp
//   ./a.out [--quick]
// Logits are Gaussian with standard deviation 3 (a moderately peaked next-token distribution:
// top-p 0.9 then needs roughly 4% of the vocabulary); the "flat" row uses standard deviation 1, the
// worst case for top-p, whose nucleus is then most of the vocabulary and needs a full sort.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <numbers>
#include <string>
#include <vector>

#include "genarm/core/rng.hpp"
#include "genarm/sampling/sampler.hpp"

namespace {

using genarm::Rng;
using genarm::sampling::Sampler;
using genarm::sampling::SamplerParams;

std::vector<float> gaussian(Rng& rng, size_t n, double sd) {
  std::vector<float> out(n);
  for (float& x : out) {
    const double u1 = 1.0 - rng.uniform();
    const double u2 = rng.uniform();
    x = static_cast<float>(sd * std::sqrt(-2.0 * std::log(u1)) *
                           std::cos(2.0 * std::numbers::pi * u2));
  }
  return out;
}

struct Config {
  std::string name;
  SamplerParams params;
  double sd = 3.0;
};

std::vector<Config> configs() {
  std::vector<Config> out;
  SamplerParams greedy;
  greedy.greedy = true;
  out.push_back({"greedy", greedy});
  out.push_back({"plain sampling (t = 1)", SamplerParams{}});
  SamplerParams top_k;
  top_k.top_k = 40;
  out.push_back({"top-k 40", top_k});
  SamplerParams top_p;
  top_p.top_p = 0.9f;
  out.push_back({"top-p 0.9", top_p});
  out.push_back({"top-p 0.9, flat logits (sd 1)", top_p, 1.0});
  SamplerParams full;
  full.temperature = 0.8f;
  full.top_k = 40;
  full.top_p = 0.95f;
  full.min_p = 0.05f;
  full.repetition_penalty = 1.1f;
  out.push_back({"t 0.8, top-k 40, top-p 0.95, min-p 0.05, rep 1.1", full});
  return out;
}

struct Cost {
  double wall_us;
  double cpu_us;
};

// Microseconds per step: the minimum, over many short rounds, of a round's mean. Taking the best
// round filters out time lost to other processes on a shared machine.
Cost micros_per_step(const Config& config, size_t vocab, double budget) {
  Rng rng(vocab);
  std::vector<std::vector<float>> logits;
  for (int i = 0; i < 8; ++i) logits.push_back(gaussian(rng, vocab, config.sd));
  Sampler sampler(config.params, vocab);
  for (int i = 0; i < 256; ++i) sampler.accept(static_cast<int32_t>(rng.below(vocab)));  // a prompt

  using Clock = std::chrono::steady_clock;
  long steps = 0;
  int32_t sink = 0;
  const auto step = [&] {
    const int32_t token = sampler.sample(logits[static_cast<size_t>(steps++) % logits.size()]);
    sampler.accept(token);
    sink ^= token;
  };
  for (int i = 0; i < 16; ++i) step();  // warm caches and branch predictors

  constexpr int kRounds = 20;
  Cost best{1e300, 1e300};
  for (int round = 0; round < kRounds; ++round) {
    long n = 0;
    const auto start = Clock::now();
    const std::clock_t cpu_start = std::clock();
    double elapsed = 0;
    do {
      for (int i = 0; i < 8; ++i) step();
      n += 8;
      elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    } while (elapsed < budget / kRounds);
    const double cpu = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
    best.wall_us = std::min(best.wall_us, elapsed / static_cast<double>(n) * 1e6);
    best.cpu_us = std::min(best.cpu_us, cpu / static_cast<double>(n) * 1e6);
  }
  if (sink == -12345) std::puts("");  // keep the work observable
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const double budget = quick ? 0.2 : 1.0;
  const std::vector<size_t> vocabs{4096, 32768, 131072};
  std::vector<std::vector<Cost>> costs;
  for (const Config& config : configs()) {
    costs.emplace_back();
    for (const size_t v : vocabs) costs.back().push_back(micros_per_step(config, v, budget));
  }
  for (const bool cpu : {false, true}) {
    std::printf("sampler step cost, us per token (sample + accept), %s, best of 20 rounds\n",
                cpu ? "CPU time" : "wall time");
    std::printf("%-50s %10s %10s %10s\n", "chain", "V=4k", "V=32k", "V=128k");
    for (size_t c = 0; c < costs.size(); ++c) {
      std::printf("%-50s", configs()[c].name.c_str());
      for (const Cost& cost : costs[c]) std::printf(" %10.1f", cpu ? cost.cpu_us : cost.wall_us);
      std::printf("\n");
    }
    std::printf("\n");
  }
  return 0;
}
