// JSON form of a GenerationResult, as the CLI prints it and writes it to JSON Lines files:
// {"ids": [...], "text": "...", "stop_reason": "...", "new_tokens": n, "prompt_tokens": n,
//  "seconds": s (the generation's cost, see GenerationResult::cost_seconds), "details": [{"id", "logprob_base", "logprob_arms", "logprob_guided",
//  "logprob_sampled"}, ...]}   (details only when requested).
// Thread-safety: pure function.
#pragma once

#include <nlohmann/json.hpp>

#include "genarm/generate/generation_result.hpp"

namespace genarm {

inline nlohmann::json to_json(const GenerationResult& r, bool details = false) {
  nlohmann::json j;
  j["ids"] = r.ids;
  j["text"] = r.text;
  j["stop_reason"] = std::string(to_string(r.stop_reason));
  j["new_tokens"] = r.ids.size();
  j["prompt_tokens"] = r.prompt_tokens;
  j["seconds"] = r.cost_seconds > 0 ? r.cost_seconds : r.prefill_seconds + r.decode_seconds;
  if (details) {
    nlohmann::json rows = nlohmann::json::array();
    for (size_t t = 0; t < r.details.size(); ++t) {
      const auto& d = r.details[t];
      std::vector<float> arms(r.num_guides);
      for (size_t i = 0; i < r.num_guides; ++i) arms[i] = r.guide_logprob(t, i);
      rows.push_back({{"id", d.id},
                      {"logprob_base", d.logprob_base},
                      {"logprob_arms", arms},
                      {"logprob_guided", d.logprob_guided},
                      {"logprob_sampled", d.logprob_sampled}});
    }
    j["details"] = std::move(rows);
  }
  return j;
}

}  // namespace genarm
