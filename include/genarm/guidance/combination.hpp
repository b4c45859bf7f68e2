// Combination: the decoding logits of reward-guided generation over a vocabulary of V tokens,
//
//     z[v] = sum_i c_i * log_softmax(logits_i)[v]          (v < V)
//
// GenARM (Xu et al., ICLR 2025, arXiv 2410.08193): c_base = 1 and c_arm_i = w_i / beta, so that
// softmax(z) ∝ pi_base * prod_i pi_arm_i ^ (w_i / beta). Signed coefficients express classifier-free
// guidance, proxy-tuning and contrastive decoding with the same code. Each component's logits are
// cut to V first (padded embedding tables), as the official implementation does. Per-component
// filters then exclude tokens (z = -inf).
// Ownership: owns its scratch (sized once for V); refers to nothing.
// Thread-safety: not thread-safe (one per sequence).
#pragma once

#include <Eigen/Core>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "genarm/core/error.hpp"
#include "genarm/core/math.hpp"
#include "genarm/guidance/component_filter.hpp"

namespace genarm {

class Combination {
 public:
  explicit Combination(size_t vocab_size = 0) { resize(vocab_size); }

  void resize(size_t vocab_size) {
    vocab_size_ = vocab_size;
    z_.assign(vocab_size, 0.0f);
    scratch_.assign(vocab_size, 0.0f);
  }
  size_t vocab_size() const { return vocab_size_; }

  // Computes z from one logits span per component (each >= V long), with their coefficients and
  // optional filters (empty span: none). `log_normalizers` receives log sum exp of each
  // component's first V logits, so that log p_i(v) = logits_i[v] - log_normalizers[i].
  // Returns z (V floats, owned by this object until the next call).
  std::span<const float> combine(std::span<const std::span<const float>> logits,
                                 std::span<const float> coefficients,
                                 std::span<const ComponentFilter> filters,
                                 std::span<double> log_normalizers) {
    const size_t n = logits.size();
    GENARM_ASSERT(coefficients.size() == n && log_normalizers.size() == n);
    GENARM_ASSERT(filters.empty() || filters.size() == n);
    const auto V = static_cast<Eigen::Index>(vocab_size_);
    Eigen::Map<Eigen::ArrayXf> z(z_.data(), V);
    z.setZero();
    double offset = 0.0;  // sum_i c_i * logZ_i, subtracted once at the end
    for (size_t i = 0; i < n; ++i) {
      if (logits[i].size() < vocab_size_) {
        fail(ErrorCategory::kInvalidArgument, "component ", i, " gives ", logits[i].size(),
             " logits for a vocabulary of ", vocab_size_, " tokens");
      }
      const auto li = logits[i].first(vocab_size_);
      log_normalizers[i] = log_sum_exp(li);
      const float c = coefficients[i];
      const Eigen::Map<const Eigen::ArrayXf> a(li.data(), V);
      if (c == 0.0f) continue;  // a zero weight has no effect, not even through -inf logits
      z += c * a;
      offset += static_cast<double>(c) * log_normalizers[i];
    }
    z -= static_cast<float>(offset);
    // A -inf logit times a negative coefficient would be +inf; a token some model bans stays banned.
    for (size_t i = 0; i < n; ++i) {
      if (coefficients[i] < 0.0f) {
        const auto li = logits[i];
        for (size_t v = 0; v < vocab_size_; ++v) {
          if (li[v] == kNegInf) z_[v] = kNegInf;
        }
      }
    }
    for (size_t i = 0; i < filters.size(); ++i) {
      filters[i].apply(logits[i].first(vocab_size_), z_, scratch_);
    }
    return z_;
  }

  std::span<const float> z() const { return z_; }

 private:
  size_t vocab_size_ = 0;
  std::vector<float> z_;        // (V) the combined logits
  std::vector<float> scratch_;  // (V) for filters
};

}  // namespace genarm
