// GenerationResult: what one generation produced — the new token ids, the text of the new tokens
// only, why it stopped, timings, and per-token details a researcher wants (the chosen token's
// log-probability under the base, under each ARM, under the guided distribution and under the
// final sampling distribution).
// Thread-safety: plain value type.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace genarm {

enum class StopReason { kLength, kEos, kStopString, kContext, kCallback };

inline std::string_view to_string(StopReason r) {
  switch (r) {
    case StopReason::kLength: return "length";
    case StopReason::kEos: return "eos";
    case StopReason::kStopString: return "stop_string";
    case StopReason::kContext: return "context";
    case StopReason::kCallback: return "callback";
  }
  return "?";
}

struct TokenDetail {
  int32_t id = 0;
  float logprob_base = 0.0f;     // log pi_base(y_t | ...)
  float logprob_guided = 0.0f;   // log softmax(z)[y_t]: the GenARM distribution at temperature 1
  float logprob_sampled = 0.0f;  // under the distribution actually sampled (after the chain)
};

// One entry of a token's top log-probs.
struct TokenLogprob {
  int32_t id = 0;
  float logprob = 0.0f;
};

struct GenerationResult {
  std::vector<int32_t> ids;          // new tokens (an EOS that stopped generation included)
  // The new text as it continues the prompt: decode(prompt + ids) minus decode(prompt), special
  // tokens skipped, cut before a stop string.
  std::string text;
  StopReason stop_reason = StopReason::kLength;
  std::vector<TokenDetail> details;  // one per id, when GenerationConfig::details
  // log pi_arm_i(y_t | ...) of each ARM, token-major (num_guides per token), when details are on.
  // Flat so that recording it allocates nothing per token.
  size_t num_guides = 0;
  std::vector<float> guide_logprobs;
  float guide_logprob(size_t token, size_t guide) const { return guide_logprobs[token * num_guides + guide]; }
  // GenerationConfig::top_logprobs per token (token-major, most likely first, ties to the lower
  // id): the guided distribution's alternatives at each step.
  size_t top_k = 0;
  std::vector<TokenLogprob> top_logprobs;
  std::span<const TokenLogprob> top_of(size_t token) const {
    return std::span<const TokenLogprob>(top_logprobs).subspan(token * top_k, top_k);
  }
  size_t prompt_tokens = 0;          // base prompt length
  double prefill_seconds = 0.0;
  double decode_seconds = 0.0;
  // The compute time the generation cost: prefill + decode for generate(); in a BatchGenerator
  // batch, its share of every step it took part in (each step's time divided among the sequences
  // in it), so that the costs of a batch's generations add up to its time.
  double cost_seconds = 0.0;
};

}  // namespace genarm
