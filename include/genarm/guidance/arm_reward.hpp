// ARM reward: how an autoregressive reward model scores a complete response to a prompt,
//
//     r(x, y) = sum_t log pi_arm(y_t | x, y_<t)        (GenARM eq. 4, with beta_r = 1)
//
// over the tokenizer's vocabulary V (padded logits cut, as in decoding). Used to score and rerank
// responses with an ARM, and for best-of-N with an ARM as the judge.
// Thread-safety: functions of a caller-owned source (one per thread).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "genarm/core/error.hpp"
#include "genarm/core/math.hpp"
#include "genarm/guidance/logit_source.hpp"
#include "genarm/guidance/transformer_source.hpp"

namespace genarm {

struct ArmScore {
  double reward = 0.0;                // sum of token_logprobs
  std::vector<double> token_logprobs; // log pi_arm(y_t | x, y_<t), one per response token
};

namespace detail {
inline double token_logprob(std::span<const float> logits, size_t vocab, int32_t token) {
  const auto cut = logits.first(vocab);
  return static_cast<double>(cut[static_cast<size_t>(token)]) - log_sum_exp(cut);
}
}  // namespace detail

// Scores `response` after `prompt` (the ARM's own prompt tokens). Resets the source.
template <LogitSource S>
ArmScore arm_score(S& arm, std::span<const int32_t> prompt, std::span<const int32_t> response,
                   size_t vocab_size) {
  if (prompt.empty()) fail(ErrorCategory::kInvalidArgument, "arm reward: the prompt is empty (give at least BOS)");
  if (arm.vocab_size() < vocab_size) {
    fail(ErrorCategory::kInvalidArgument, "arm reward: the ARM gives ", arm.vocab_size(),
         " logits for a vocabulary of ", vocab_size);
  }
  for (int32_t t : response) {
    if (t < 0 || static_cast<size_t>(t) >= vocab_size) {
      fail(ErrorCategory::kInvalidArgument, "arm reward: response token ", t,
           " is outside the vocabulary of ", vocab_size);
    }
  }
  ArmScore score;
  score.token_logprobs.reserve(response.size());
  arm.reset();
  arm.prefill(prompt);
  if (response.empty()) return score;
  score.token_logprobs.push_back(detail::token_logprob(arm.logits(), vocab_size, response[0]));
  if constexpr (requires(model::RowMatrix & rows) { arm.prefill_all(response, rows); }) {
    // One batched pass over the response instead of a decode step per token.
    model::RowMatrix rows;
    arm.prefill_all(response.first(response.size() - 1), rows);
    for (size_t t = 1; t < response.size(); ++t) {
      const auto row = rows.row(static_cast<Eigen::Index>(t - 1));
      score.token_logprobs.push_back(detail::token_logprob(
          std::span<const float>(row.data(), static_cast<size_t>(row.size())), vocab_size, response[t]));
    }
  } else {
    for (size_t t = 1; t < response.size(); ++t) {
      arm.advance(response[t - 1]);
      score.token_logprobs.push_back(detail::token_logprob(arm.logits(), vocab_size, response[t]));
    }
  }
  for (double lp : score.token_logprobs) score.reward += lp;
  return score;
}

}  // namespace genarm
