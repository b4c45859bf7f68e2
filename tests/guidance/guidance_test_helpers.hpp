// Shared by the guidance tests: loading the GenARM fixture family and greedy guided decoding that
// reports where the path stops being judgeable (top-2 margin under 1e-3).
#pragma once

#include <algorithm>
#include <vector>

#include "genarm/guidance/guided_policy.hpp"
#include "test_support.hpp"

namespace genarm::testing {

inline model::Transformer fixture_model(const std::string& name) {
  return model::Transformer::load(hf_dir() / "models" / name);
}

struct GreedyPath {
  std::vector<int32_t> tokens;
  size_t judged = 0;  // tokens before the first step whose top-2 margin is < 1e-3
};

template <typename Policy>
GreedyPath greedy_path(Policy& policy, size_t steps, double margin_floor = 1e-3) {
  GreedyPath path;
  bool judging = true;
  for (size_t s = 0; s < steps; ++s) {
    const auto z = policy.next_logits();
    size_t best = 0, second = 1;
    if (z[second] > z[best]) std::swap(best, second);
    for (size_t v = 2; v < z.size(); ++v) {
      if (z[v] > z[best]) {
        second = best;
        best = v;
      } else if (z[v] > z[second]) {
        second = v;
      }
    }
    if (judging && z[best] - z[second] < margin_floor) judging = false;
    if (judging) path.judged = s + 1;
    path.tokens.push_back(static_cast<int32_t>(best));
    policy.advance(static_cast<int32_t>(best));
  }
  return path;
}

inline ::testing::AssertionResult same_judged_prefix(const GreedyPath& got, const std::vector<int32_t>& want) {
  const size_t n = std::min(got.judged, want.size());
  for (size_t i = 0; i < n; ++i) {
    if (got.tokens[i] != want[i]) {
      return ::testing::AssertionFailure() << "step " << i << ": got " << got.tokens[i] << ", want " << want[i]
                                           << " (judged " << got.judged << " steps)";
    }
  }
  return ::testing::AssertionSuccess() << "judged " << n << " steps";
}

}  // namespace genarm::testing
