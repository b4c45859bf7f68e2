// Helpers shared by the sampling tests: build candidates from a list, read back what survived,
// naive reference computations.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <vector>

#include "genarm/core/rng.hpp"
#include "genarm/sampling/candidates.hpp"

namespace genarm::sampling::test {

inline constexpr float kInf = std::numeric_limits<float>::infinity();

inline Candidates candidates_of(const std::vector<float>& logits) {
  Candidates c(logits.size());
  c.assign(logits);
  return c;
}

// Ids of the surviving candidates with a finite logit, ascending.
inline std::vector<int32_t> kept_ids(const Candidates& c) {
  std::vector<int32_t> ids;
  for (const TokenLogit& t : c.items()) {
    if (t.logit > -kInf) ids.push_back(t.id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

// Logit of `id` among the candidates (NaN if removed).
inline float logit_of(const Candidates& c, int32_t id) {
  const TokenLogit* t = c.find(id);
  return t ? t->logit : std::numeric_limits<float>::quiet_NaN();
}

inline std::vector<double> dense(const Candidates& c) {
  std::vector<double> p;
  c.dense_probabilities(c.vocab_size(), p);
  return p;
}

// Softmax in double over a plain vector (reference).
inline std::vector<double> softmax(const std::vector<float>& logits) {
  double m = -std::numeric_limits<double>::infinity();
  for (const float l : logits) m = std::max(m, static_cast<double>(l));
  std::vector<double> p(logits.size());
  double s = 0;
  for (size_t i = 0; i < logits.size(); ++i) s += p[i] = std::exp(logits[i] - m);
  for (double& x : p) x /= s;
  return p;
}

// Gaussian logits (Box-Muller over genarm::Rng, so the tests do not depend on <random>).
inline std::vector<float> gaussian_logits(uint64_t seed, size_t n, double scale) {
  Rng rng(seed);
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) {
    const double u1 = 1.0 - rng.uniform();  // (0, 1]
    const double u2 = rng.uniform();
    out[i] = static_cast<float>(scale * std::sqrt(-2.0 * std::log(u1)) *
                                std::cos(2.0 * std::numbers::pi * u2));
  }
  return out;
}

}  // namespace genarm::sampling::test

namespace genarm::sampling::test {

// Random logits for comparisons with a naive reference: Gaussian with the given scale, a few
// -inf entries when `with_bans`.
inline std::vector<float> random_case(uint64_t seed, size_t n, double scale, bool with_bans) {
  std::vector<float> logits = gaussian_logits(seed, n, scale);
  if (with_bans && n > 2) {
    Rng rng(seed ^ 0x5eed);
    for (size_t k = 0; k < n / 10 + 1; ++k) logits[rng.below(n - 1) + 1] = -kInf;
    logits[0] = 0.0f;  // keep at least one finite logit
  }
  return logits;
}

// Ids with a finite processed logit in a dense HF-style score vector.
inline std::vector<int32_t> finite_ids(const std::vector<double>& scores) {
  std::vector<int32_t> ids;
  for (size_t i = 0; i < scores.size(); ++i) {
    if (scores[i] > -std::numeric_limits<double>::infinity())
      ids.push_back(static_cast<int32_t>(i));
  }
  return ids;
}

// Indices sorted by a key ascending (stable, like a reference implementation would).
template <typename Key>
std::vector<size_t> argsort(size_t n, Key key) {
  std::vector<size_t> idx(n);
  for (size_t i = 0; i < n; ++i) idx[i] = i;
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return key(a) < key(b); });
  return idx;
}

}  // namespace genarm::sampling::test
