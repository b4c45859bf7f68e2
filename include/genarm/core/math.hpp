// Numerics shared across layers: log-sum-exp and log-softmax over float spans, vectorised through
// Eigen, with -inf entries (banned tokens) allowed.
// Thread-safety: pure functions.
#pragma once

#include <Eigen/Core>
#include <cmath>
#include <limits>
#include <span>

#include "genarm/core/error.hpp"

namespace genarm {

inline constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// log sum_i exp(x_i). Error(kInvalidArgument) if every entry is -inf or one is NaN / +inf.
inline double log_sum_exp(std::span<const float> x) {
  if (x.empty()) fail(ErrorCategory::kInvalidArgument, "log_sum_exp of an empty vector");
  const Eigen::Map<const Eigen::ArrayXf> a(x.data(), static_cast<Eigen::Index>(x.size()));
  const float m = a.maxCoeff();
  if (!(m > kNegInf) || !std::isfinite(m)) {
    if (std::isnan(m) || m == std::numeric_limits<float>::infinity() || a.isNaN().any()) {
      fail(ErrorCategory::kInvalidArgument, "log_sum_exp: NaN or +inf among ", x.size(), " values");
    }
    fail(ErrorCategory::kInvalidArgument, "log_sum_exp: all ", x.size(), " values are -inf");
  }
  const double sum = static_cast<double>((a - m).exp().sum());
  return static_cast<double>(m) + std::log(sum);
}

// out_i = x_i - log_sum_exp(x). `out` may alias `x`.
inline void log_softmax(std::span<const float> x, std::span<float> out) {
  GENARM_ASSERT(out.size() == x.size());
  const float lse = static_cast<float>(log_sum_exp(x));
  for (size_t i = 0; i < x.size(); ++i) out[i] = x[i] - lse;
}

}  // namespace genarm
