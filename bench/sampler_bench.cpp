// Cost of one full sampling step (Sampler::sample + accept: copy the logits into the candidates,
// run the chain, select) against the vocabulary size, in microseconds per step.
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

// Microseconds per step: the minimum, over many short rounds, of a round's mean. Taking the best
// round filters out time lost to other processes on a shared machine.
double micros_per_step(const Config& config, size_t vocab, double budget) {
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
  double best = 1e300;
  for (int round = 0; round < kRounds; ++round) {
    long n = 0;
    const auto start = Clock::now();
    double elapsed = 0;
    do {
      for (int i = 0; i < 8; ++i) step();
      n += 8;
      elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    } while (elapsed < budget / kRounds);
    best = std::min(best, elapsed / static_cast<double>(n) * 1e6);
  }
  if (sink == -12345) std::puts("");  // keep the work observable
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const double budget = quick ? 0.2 : 1.0;
  const std::vector<size_t> vocabs{4096, 32768, 131072};
  std::printf("sampler step cost, us per token (sample + accept), best of 20 rounds\n");
  std::printf("%-50s %10s %10s %10s\n", "chain", "V=4k", "V=32k", "V=128k");
  for (const Config& config : configs()) {
    std::printf("%-50s", config.name.c_str());
    for (const size_t v : vocabs) std::printf(" %10.1f", micros_per_step(config, v, budget));
    std::printf("\n");
    std::fflush(stdout);
  }
  return 0;
}
