// GenerationConfig: when a generation stops and what it reports. Sampling itself is configured by
// sampling::SamplerParams; guidance by Guidance.
// Thread-safety: plain value type.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "genarm/core/error.hpp"

namespace genarm {

struct GenerationConfig {
  int max_new_tokens = 128;            // > 0
  std::vector<int32_t> eos_token_ids;  // generation stops after one of these (it is kept in ids)
  bool ignore_eos = false;             // keep going through EOS tokens
  // Generation stops when the text contains one of these; the text is cut before it (the ids keep
  // the token that completed it). Streamed text never shows a prefix of a stop string that may
  // still complete.
  std::vector<std::string> stop_strings;
  bool details = true;  // per-token log-probabilities under every model and the decoding distribution
  // Per token, the `top_logprobs` most likely tokens of the guided distribution (log softmax of z,
  // temperature 1: what OpenAI's top_logprobs report) with their log-probs; 0 = none.
  int top_logprobs = 0;

  void validate() const {
    if (max_new_tokens <= 0) {
      fail(ErrorCategory::kInvalidArgument, "max_new_tokens must be > 0, got ", max_new_tokens);
    }
    if (top_logprobs < 0) fail(ErrorCategory::kInvalidArgument, "top_logprobs must be >= 0, got ", top_logprobs);
    for (const auto& s : stop_strings) {
      if (s.empty()) fail(ErrorCategory::kInvalidArgument, "a stop string is empty");
    }
  }
};

}  // namespace genarm
