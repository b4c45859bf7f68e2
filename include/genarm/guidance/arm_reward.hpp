// ARM reward: how an autoregressive reward model scores a complete response to a prompt,
//
//     r(x, y) = sum_t log pi_arm(y_t | x, y_<t)        (GenARM eq. 4, with beta_r = 1)
//
// over the tokenizer's vocabulary V (padded logits cut, as in decoding). Used to score and rerank
// responses with an ARM, and for best-of-N with an ARM as the judge.
// Thread-safety: functions of a caller-owned source (one per thread).
#pragma once

#include <algorithm>
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

// A prompt and a response to score (the spans must outlive the call).
struct ScoreItem {
  std::span<const int32_t> prompt;
  std::span<const int32_t> response;
};

// The ARM rewards of many responses at once: the same values as arm_score() on each alone, bit for
// bit (the forward pass is batch-invariant), computed in batched passes over the ARM's weights —
// first every prompt, then every response, the logits of at most ~64 MB of rows at a time.
inline std::vector<ArmScore> arm_scores(const model::Transformer& arm, std::span<const ScoreItem> items,
                                        size_t vocab_size, ThreadPool* pool = nullptr) {
  if (static_cast<size_t>(arm.vocab_size()) < vocab_size) {
    fail(ErrorCategory::kInvalidArgument, "arm reward: the ARM gives ", arm.vocab_size(),
         " logits for a vocabulary of ", vocab_size);
  }
  for (const auto& item : items) {
    if (item.prompt.empty()) fail(ErrorCategory::kInvalidArgument, "arm reward: the prompt is empty (give at least BOS)");
    for (int32_t t : item.response) {
      if (t < 0 || static_cast<size_t>(t) >= vocab_size) {
        fail(ErrorCategory::kInvalidArgument, "arm reward: response token ", t, " is outside the vocabulary of ",
             vocab_size);
      }
    }
  }
  std::vector<ArmScore> out(items.size());
  const size_t V = static_cast<size_t>(arm.vocab_size());
  const size_t row_budget = std::max<size_t>(1, (size_t{64} << 20) / (V * sizeof(float)));
  model::ForwardWorkspace ws;
  std::vector<model::SequenceState> states;
  std::vector<model::BatchItem> batch;
  std::vector<float> rows;
  for (size_t begin = 0; begin < items.size();) {
    // A group of items whose response rows fit the budget (at least one item).
    size_t end = begin, group_rows = 0;
    while (end < items.size() && (end == begin || group_rows + items[end].response.size() <= row_budget)) {
      group_rows += items[end].response.size();
      ++end;
    }
    states.clear();
    for (size_t i = begin; i < end; ++i) states.push_back(arm.new_sequence());
    batch.clear();
    for (size_t i = begin; i < end; ++i) batch.push_back({&states[i - begin], items[i].prompt, false, nullptr});
    arm.forward_batch(batch, ws, pool);
    rows.resize(group_rows * V);
    batch.clear();
    size_t offset = 0;
    for (size_t i = begin; i < end; ++i) {
      const auto response = items[i].response;
      out[i].token_logprobs.reserve(response.size());
      if (response.empty()) continue;
      out[i].token_logprobs.push_back(detail::token_logprob(states[i - begin].logits(), vocab_size, response[0]));
      if (response.size() > 1) {
        batch.push_back({&states[i - begin], response.first(response.size() - 1), false, rows.data() + offset * V});
      }
      offset += response.size();
    }
    arm.forward_batch(batch, ws, pool);
    offset = 0;
    for (size_t i = begin; i < end; ++i) {
      const auto response = items[i].response;
      for (size_t t = 1; t < response.size(); ++t) {
        const std::span<const float> row(rows.data() + (offset + t - 1) * V, V);
        out[i].token_logprobs.push_back(detail::token_logprob(row, vocab_size, response[t]));
      }
      offset += response.size();
      for (double lp : out[i].token_logprobs) out[i].reward += lp;
    }
    begin = end;
  }
  return out;
}

}  // namespace genarm
