// genarm::sampling::Sampler — candidates sized for a vocabulary plus the chain built from
// SamplerParams: what the generation loop calls once per token.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "genarm/core/error.hpp"
#include "genarm/sampling/candidates.hpp"
#include "genarm/sampling/processor.hpp"
#include "genarm/sampling/sampler_params.hpp"
#include "genarm/sampling/selectors.hpp"

namespace genarm::sampling {

// One sequence's sampler: sample() runs assign -> chain -> selection on reused buffers, so after
// construction a step never allocates. The caller reports every token appended to the sequence
// (prompt tokens too) through accept(); sample() does not accept its own result.
// Owns its candidates and chain; copies (clone()) are deep and continue the same RNG stream.
// Not thread-safe (one per sequence).
class Sampler {
 public:
  Sampler(const SamplerParams& params, size_t vocab_size)
      : vocab_size_(vocab_size),
        candidates_(vocab_size),
        chain_(make_chain(params)),
        scratch_(vocab_size) {
    if (vocab_size == 0) fail(ErrorCategory::kInvalidArgument, "Sampler: vocab_size must be > 0");
    chain_.reserve(vocab_size);
  }

  // Picks the next token from `logits` (one per vocabulary token, -inf = banned).
  int32_t sample(std::span<const float> logits) {
    if (logits.size() != vocab_size_) {
      fail(ErrorCategory::kInvalidArgument, "Sampler::sample: got ", logits.size(),
           " logits for a vocabulary of ", vocab_size_);
    }
    candidates_.assign(logits);
    chain_.apply(candidates_);
    GENARM_ASSERT(candidates_.selected() >= 0);  // make_chain always ends with a selector
    return candidates_.selected();
  }

  void accept(int32_t token) { chain_.accept(token); }
  void reset() { chain_.reset(); }
  Sampler clone() const { return *this; }

  // Restarts the RNG of every Distribution step from `seed` (e.g. per-sequence seeds of a fork).
  void reseed(uint64_t seed) {
    for (size_t i = 0; i < chain_.size(); ++i) {
      if (auto* d = dynamic_cast<Distribution*>(&chain_.at(i))) d->reseed(seed);
    }
  }

  size_t vocab_size() const { return vocab_size_; }
  const Chain& chain() const { return chain_; }

  // The candidates after the last step's processing (filters applied, selection recorded).
  const Candidates& last_candidates() const { return candidates_; }

  // log p(selected token) under the final, processed distribution of the last step. Free when the
  // selector computed it (Distribution); one O(candidates) pass otherwise (Greedy).
  double last_logprob() const {
    const int32_t id = candidates_.selected();
    if (id < 0)
      fail(ErrorCategory::kInvalidArgument, "Sampler::last_logprob: no token sampled yet");
    if (const auto cached = candidates_.selected_logprob()) return *cached;
    const TokenLogit* t = candidates_.find(id);
    GENARM_ASSERT(t != nullptr);
    const float max = detail::exp_weights(candidates_.items(), scratch_.data());
    const double log_z =
        static_cast<double>(max) + std::log(detail::sum(scratch_.data(), candidates_.size()));
    return static_cast<double>(t->logit) - log_z;
  }

 private:
  size_t vocab_size_;
  Candidates candidates_;  // (vocab_size) reused every step
  Chain chain_;
  mutable std::vector<double> scratch_;  // (vocab_size) exp weights for last_logprob()
};

}  // namespace genarm::sampling
