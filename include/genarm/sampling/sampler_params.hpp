// genarm::sampling::SamplerParams and make_chain — the user-facing sampling settings and the
// processor chain they stand for.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "genarm/core/error.hpp"
#include "genarm/sampling/logit_bias.hpp"
#include "genarm/sampling/min_p.hpp"
#include "genarm/sampling/penalties.hpp"
#include "genarm/sampling/processor.hpp"
#include "genarm/sampling/selectors.hpp"
#include "genarm/sampling/temperature.hpp"
#include "genarm/sampling/top_k.hpp"
#include "genarm/sampling/top_p.hpp"
#include "genarm/sampling/typical.hpp"

namespace genarm::sampling {

// Names of the steps `SamplerParams::order` may list, in the default order. This is the order of
// Hugging Face generate() (_get_logits_processor): sequence_bias, then repetition_penalty, then the
// warpers temperature, top_k, top_p, min_p, typical_p. "penalties" is the repetition penalty
// followed by the frequency / presence penalties.
inline constexpr std::array<std::string_view, 7> kDefaultStepOrder = {
    "logit_bias", "penalties", "temperature", "top_k", "top_p", "min_p", "typical"};

// Sampling settings. Defaults disable everything: plain sampling from softmax(logits).
// Plain value type; thread-safe to read.
struct SamplerParams {
  bool greedy = false;           // argmax instead of a draw (as temperature = 0)
  float temperature = 1;         // >= 0; 0 = greedy
  int top_k = 0;                 // >= 0; 0 = off
  float top_p = 1;               // (0, 1]; 1 = off
  float min_p = 0;               // [0, 1]; 0 = off
  float typical_p = 1;           // (0, 1]; 1 = off
  float repetition_penalty = 1;  // > 0; 1 = off
  float frequency_penalty = 0;   // finite; 0 = off
  float presence_penalty = 0;    // finite; 0 = off
  int penalty_window = 0;        // >= 0 tokens; 0 = whole history, as HF
  std::vector<std::pair<int32_t, float>> logit_bias;  // (id, bias); -inf bans
  uint64_t seed = 0;
  // Steps to run, in order, from kDefaultStepOrder's names; empty = kDefaultStepOrder. A step that
  // the parameters enable must be listed (so no setting is silently ignored).
  std::vector<std::string> order;

  // Greedy decoding runs only logit_bias and penalties, then an argmax: like HF with
  // do_sample=False, temperature and the filters (which cannot move the argmax, except typical)
  // are not applied.
  bool is_greedy() const { return greedy || temperature == 0; }

  // Whether the step of that name would run with these parameters.
  bool step_enabled(std::string_view step) const {
    if (step == "logit_bias") return !logit_bias.empty();
    if (step == "penalties") {
      return repetition_penalty != 1 || frequency_penalty != 0 || presence_penalty != 0;
    }
    if (is_greedy()) return false;
    if (step == "temperature") return temperature != 1;
    if (step == "top_k") return top_k > 0;
    if (step == "top_p") return top_p < 1;
    if (step == "min_p") return min_p > 0;
    if (step == "typical") return typical_p < 1;
    return false;
  }

  // Throws genarm::Error(kInvalidArgument) naming the first bad parameter and its value.
  void validate() const {
    if (!std::isfinite(temperature) || temperature < 0) {
      bad("temperature", temperature, "must be a finite number >= 0 (0 = greedy)");
    }
    if (top_k < 0) bad("top_k", top_k, "must be >= 0 (0 disables it)");
    if (!(top_p > 0 && top_p <= 1)) bad("top_p", top_p, "must be in (0, 1] (1 disables it)");
    if (!(min_p >= 0 && min_p <= 1)) bad("min_p", min_p, "must be in [0, 1] (0 disables it)");
    if (!(typical_p > 0 && typical_p <= 1)) {
      bad("typical_p", typical_p, "must be in (0, 1] (1 disables it)");
    }
    if (!(repetition_penalty > 0) || !std::isfinite(repetition_penalty)) {
      bad("repetition_penalty", repetition_penalty, "must be a finite number > 0 (1 disables it)");
    }
    if (!std::isfinite(frequency_penalty)) {
      bad("frequency_penalty", frequency_penalty, "must be a finite number (0 disables it)");
    }
    if (!std::isfinite(presence_penalty)) {
      bad("presence_penalty", presence_penalty, "must be a finite number (0 disables it)");
    }
    if (penalty_window < 0) {
      bad("penalty_window", penalty_window, "must be >= 0 (0 = the whole history)");
    }
    LogitBias::validate(logit_bias);

    for (size_t i = 0; i < order.size(); ++i) {
      const std::string& name = order[i];
      if (std::find(kDefaultStepOrder.begin(), kDefaultStepOrder.end(), name) ==
          kDefaultStepOrder.end()) {
        std::ostringstream known;
        for (size_t k = 0; k < kDefaultStepOrder.size(); ++k) {
          known << (k ? ", " : "") << kDefaultStepOrder[k];
        }
        fail(ErrorCategory::kInvalidArgument, "sampler parameter order: unknown step '", name,
             "' (known: ", known.str(), ")");
      }
      if (std::find(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(i), name) !=
          order.begin() + static_cast<std::ptrdiff_t>(i)) {
        fail(ErrorCategory::kInvalidArgument, "sampler parameter order: step '", name,
             "' is listed twice");
      }
    }
    if (!order.empty()) {
      for (const std::string_view step : kDefaultStepOrder) {
        if (step_enabled(step) && std::find(order.begin(), order.end(), step) == order.end()) {
          fail(ErrorCategory::kInvalidArgument, "sampler parameter order omits '", step,
               "', which the parameters enable (", describe(step), ")");
        }
      }
    }
  }

 private:
  template <typename T>
  [[noreturn]] static void bad(std::string_view name, T value, std::string_view why) {
    fail(ErrorCategory::kInvalidArgument, "sampler parameter ", name, " = ", value, ": ", why);
  }

  std::string describe(std::string_view step) const {
    std::ostringstream s;
    if (step == "logit_bias") s << "logit_bias has " << logit_bias.size() << " entries";
    if (step == "penalties") {
      s << "repetition_penalty = " << repetition_penalty
        << ", frequency_penalty = " << frequency_penalty
        << ", presence_penalty = " << presence_penalty;
    }
    if (step == "temperature") s << "temperature = " << temperature;
    if (step == "top_k") s << "top_k = " << top_k;
    if (step == "top_p") s << "top_p = " << top_p;
    if (step == "min_p") s << "min_p = " << min_p;
    if (step == "typical") s << "typical_p = " << typical_p;
    return s.str();
  }
};

// Builds the processors the parameters enable, in `order` (or the default order), skipping
// disabled ones, and ends with the selector: Greedy when is_greedy(), else Distribution(seed).
// Validates the parameters first.
inline Chain make_chain(const SamplerParams& p) {
  p.validate();
  std::vector<std::string_view> steps;
  if (p.order.empty()) {
    steps.assign(kDefaultStepOrder.begin(), kDefaultStepOrder.end());
  } else {
    steps.assign(p.order.begin(), p.order.end());
  }
  const auto window = static_cast<size_t>(p.penalty_window);
  Chain chain;
  for (const std::string_view step : steps) {
    if (!p.step_enabled(step)) continue;
    if (step == "logit_bias") chain.emplace<LogitBias>(p.logit_bias);
    if (step == "penalties") {
      if (p.repetition_penalty != 1) chain.emplace<RepetitionPenalty>(p.repetition_penalty, window);
      if (p.frequency_penalty != 0 || p.presence_penalty != 0) {
        chain.emplace<FrequencyPresencePenalty>(p.frequency_penalty, p.presence_penalty, window);
      }
    }
    if (step == "temperature") chain.emplace<Temperature>(p.temperature);
    if (step == "top_k") chain.emplace<TopK>(p.top_k);
    if (step == "top_p") chain.emplace<TopP>(p.top_p);
    if (step == "min_p") chain.emplace<MinP>(p.min_p);
    if (step == "typical") chain.emplace<Typical>(p.typical_p);
  }
  if (p.is_greedy()) {
    chain.emplace<Greedy>();
  } else {
    chain.emplace<Distribution>(p.seed);
  }
  return chain;
}

}  // namespace genarm::sampling
