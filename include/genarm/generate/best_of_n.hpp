// best_of_n(): the best-of-N baseline — N continuations sampled from the same policy (they share
// the prompt's prefill: the policy reads the prompt once and is forked per sample), each scored by
// a reward, the highest kept (ties: the first). N times the decoding cost of one sample.
// The callback, if any, receives the chosen text once the choice is made.
// Thread-safety: operates on caller-owned objects.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "genarm/core/error.hpp"
#include "genarm/generate/generator.hpp"

namespace genarm {

struct BestOfNResult {
  GenerationResult best;
  size_t best_index = 0;
  std::vector<double> rewards;               // one per sample
  std::vector<GenerationResult> candidates;  // every sample, in order
};

// `reward(prompts, result)` -> double scores one sample. Sample i uses seed `seed + i`.
template <typename Policy, typename RewardFn>
BestOfNResult best_of_n(Policy& policy, sampling::Sampler& sampler, const Tokenizer& tokenizer, const Prompts& prompts,
                        const GenerationConfig& config, int n, uint64_t seed, RewardFn&& reward,
                        const StreamCallback& on_text = {}) {
  if (n < 1) fail(ErrorCategory::kInvalidArgument, "best-of-N needs N >= 1, got ", n);
  config.validate();
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  policy.start(prompts.base, prompts.guides);
  const double prefill = std::chrono::duration<double>(Clock::now() - t0).count();
  BestOfNResult out;
  double decode = 0.0;
  for (int i = 0; i < n; ++i) {
    auto sample = policy.fork();
    sampler.reseed(seed + static_cast<uint64_t>(i));
    GenerationResult r = generate_started(sample, sampler, tokenizer, prompts, config);
    decode += r.decode_seconds;
    out.rewards.push_back(reward(prompts, r));
    if (i == 0 || out.rewards.back() > out.rewards[out.best_index]) out.best_index = static_cast<size_t>(i);
    out.candidates.push_back(std::move(r));
  }
  out.best = out.candidates[out.best_index];
  out.best.prefill_seconds = prefill;
  out.best.decode_seconds = decode;  // the cost of the method, not of one sample
  out.best.cost_seconds = prefill + decode;
  if (on_text && !out.best.text.empty()) on_text(out.best.text);
  return out;
}

}  // namespace genarm
