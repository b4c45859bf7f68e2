// genarm::sampling::Temperature — logits / t.
#pragma once

#include <cmath>
#include <memory>
#include <string_view>

#include "genarm/core/error.hpp"
#include "genarm/sampling/candidates.hpp"
#include "genarm/sampling/processor.hpp"

namespace genarm::sampling {

// Temperature scaling (Ackley, Hinton & Sejnowski 1985; HF TemperatureLogitsWarper): every logit
// is divided by t > 0; t < 1 sharpens, t > 1 flattens. t = 0 (greedy) is not a temperature: the
// sampler builds a Greedy selector for it instead. Dividing by a positive number keeps the order,
// so a sorted array stays sorted.
// Immutable after construction: apply() on different Candidates may run concurrently.
class Temperature final : public Processor {
 public:
  explicit Temperature(float temperature) : temperature_(temperature) {
    if (!(temperature > 0) || !std::isfinite(temperature)) {
      fail(ErrorCategory::kInvalidArgument, "temperature = ", temperature,
           ": a Temperature step needs a finite t > 0 (t = 0 means greedy)");
    }
  }

  float temperature() const { return temperature_; }

  std::string_view name() const override { return "temperature"; }
  void apply(Candidates& candidates) override {
    // Multiplying by the double reciprocal and rounding once to float gives HF's float32 quotient
    // l / t (barring a quotient within 2^-52 of a float rounding midpoint) at a fraction of the
    // cost of a division per token.
    const double inverse = 1.0 / static_cast<double>(temperature_);
    for (TokenLogit& item : candidates.items()) {
      // Finite logits stay finite even for tiny t; -inf stays -inf.
      if (item.logit != detail::kNegInf) item.logit = detail::saturate(item.logit * inverse);
    }
  }
  std::unique_ptr<Processor> clone() const override { return std::make_unique<Temperature>(*this); }

 private:
  float temperature_;
};

}  // namespace genarm::sampling
