#include "genarm/sampling/selectors.hpp"

#include <array>
#include <cmath>
#include <vector>

#include "genarm/sampling/temperature.hpp"
#include "genarm/sampling/top_k.hpp"
#include "genarm/sampling/top_p.hpp"
#include "sampling_helpers.hpp"
#include "test_support.hpp"

namespace genarm::sampling {
namespace {

using test::candidates_of;
using test::kInf;

TEST(Greedy, PicksTheArgmax) {
  Candidates c = candidates_of({0.5f, 2.0f, -1.0f, 1.9f});
  Greedy().apply(c);
  EXPECT_EQ(c.selected(), 1);
  EXPECT_FALSE(c.selected_logprob().has_value());
  EXPECT_EQ(c.size(), 4u);  // selection does not filter
}

TEST(Greedy, TiesGoToTheLowestId) {
  Candidates c = candidates_of({1, 3, 3, 2, 3});
  Greedy().apply(c);
  EXPECT_EQ(c.selected(), 1);
  // Also when the array is in another order.
  Candidates r = candidates_of({1, 3, 3, 2, 3});
  std::reverse(r.items().begin(), r.items().end());
  Greedy().apply(r);
  EXPECT_EQ(r.selected(), 1);
}

TEST(Greedy, IgnoresBansAndFailsWhenAllAreBanned) {
  Candidates c = candidates_of({-kInf, -5.0f, -kInf});
  Greedy().apply(c);
  EXPECT_EQ(c.selected(), 1);
  for (TokenLogit& t : c.items()) t.logit = -kInf;
  GENARM_EXPECT_ERROR(Greedy().apply(c), ErrorCategory::kInvalidArgument,
                      "no token has finite logit");
}

// With four equal logits the cumulative walk picks floor(4u). The uniforms of seed 7 were computed
// with an independent Python transcription of xoshiro256**:
// 0.7006 0.2788 0.8396 0.9811 0.9909 0.8728 0.0608 0.1044 0.4037 0.1518 0.5414 0.7319.
TEST(Distribution, WalksTheCumulativeDistributionWithTheSeededUniform) {
  Distribution d(7);
  const std::vector<int32_t> expected{2, 1, 3, 3, 3, 3, 0, 0, 1, 0, 2, 2};
  for (const int32_t e : expected) {
    Candidates c = candidates_of({0.5f, 0.5f, 0.5f, 0.5f});
    d.apply(c);
    EXPECT_EQ(c.selected(), e);
    ASSERT_TRUE(c.selected_logprob().has_value());
    EXPECT_NEAR(*c.selected_logprob(), std::log(0.25), 1e-12);
  }
}

TEST(Distribution, NeverPicksBannedOrFilteredTokens) {
  Distribution d(11);
  for (int i = 0; i < 2000; ++i) {
    Candidates c = candidates_of({-kInf, 0.0f, -kInf, 0.0f, -kInf});
    d.apply(c);
    ASSERT_TRUE(c.selected() == 1 || c.selected() == 3) << c.selected();
  }
  Candidates c = candidates_of({1, 2});
  for (TokenLogit& t : c.items()) t.logit = -kInf;
  GENARM_EXPECT_ERROR(d.apply(c), ErrorCategory::kInvalidArgument, "no token has finite logit");
}

std::vector<int32_t> draws(Distribution& d, const std::vector<float>& logits, int n) {
  std::vector<int32_t> out;
  Candidates c(logits.size());
  for (int i = 0; i < n; ++i) {
    c.assign(logits);
    d.apply(c);
    out.push_back(c.selected());
  }
  return out;
}

TEST(Distribution, SameSeedSameDrawsDifferentSeedDifferentDraws) {
  const std::vector<float> logits = test::gaussian_logits(5, 50, 1.0);
  Distribution a(1234);
  Distribution b(1234);
  Distribution other(1235);
  const auto da = draws(a, logits, 200);
  EXPECT_EQ(da, draws(b, logits, 200));
  EXPECT_NE(da, draws(other, logits, 200));
}

TEST(Distribution, CloneContinuesResetDoesNotRewindReseedDoes) {
  const std::vector<float> logits = test::gaussian_logits(6, 30, 1.0);
  Distribution d(99);
  const auto first = draws(d, logits, 20);

  const auto copy = d.clone();
  auto& cloned = dynamic_cast<Distribution&>(*copy);
  EXPECT_EQ(draws(d, logits, 20), draws(cloned, logits, 20));  // same stream position

  d.reseed(99);
  EXPECT_EQ(draws(d, logits, 20), first);  // reseed restarts the stream
  d.reset();
  EXPECT_NE(draws(d, logits, 20), first);  // reset does not
}

TEST(Distribution, EachStepConsumesExactlyOneDraw) {
  Distribution d(3);
  Rng mirror(3);
  for (const size_t n : {1u, 2u, 100u}) {
    Candidates c = candidates_of(std::vector<float>(n, 0.0f));
    d.apply(c);
    mirror.next();
    EXPECT_EQ(d.rng(), mirror);
  }
}

// Chi-square goodness of fit: selection frequencies over many seeded draws must follow the
// (filtered, renormalised) distribution. Thresholds are the chi-square quantiles with upper tail
// 1e-6 for the degrees of freedom, so a correct sampler fails only with probability ~1e-6 for a
// random seed; the seed is fixed, so the test is deterministic. The test also proves it can fail:
// the same counts must be rejected against a distribution that moves 1% of the mass.
double chi_square(const std::vector<int>& counts, const std::vector<double>& expected, int n) {
  double chi2 = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (expected[i] == 0) continue;
    const double e = expected[i] * n;
    chi2 += (counts[i] - e) * (counts[i] - e) / e;
  }
  return chi2;
}

double chi_square_threshold(size_t categories) {
  // Upper 1e-6 quantiles for 1..7 degrees of freedom.
  static constexpr std::array<double, 8> kQuantile = {0,     23.93, 27.63, 30.66,
                                                      33.38, 35.89, 38.26, 40.52};
  return kQuantile.at(categories - 1);
}

struct FitCase {
  const char* name;
  int top_k;    // 0 = none
  float top_p;  // 1 = none
  std::vector<int32_t> kept;
};

TEST(Distribution, FrequenciesFollowTheDistribution) {
  const std::vector<double> probs{0.30, 0.20, 0.15, 0.12, 0.10, 0.07, 0.04, 0.02};
  std::vector<float> logits;
  for (const double p : probs) logits.push_back(static_cast<float>(std::log(p)));
  const int n = 200000;

  // Mass from the top: 0.30 0.50 0.65 0.77 0.87 ...: top-p 0.6 keeps three tokens. After top-k 5
  // top-p sees the renormalised mass 0.345 0.575 0.747 0.885 1: p = 0.8 keeps four.
  const std::vector<FitCase> cases{{"plain", 0, 1.0f, {0, 1, 2, 3, 4, 5, 6, 7}},
                                   {"top_k 5", 5, 1.0f, {0, 1, 2, 3, 4}},
                                   {"top_p 0.6", 0, 0.6f, {0, 1, 2}},
                                   {"top_k 5 + top_p 0.8", 5, 0.8f, {0, 1, 2, 3}}};
  uint64_t seed = 2024;
  for (const FitCase& fit : cases) {
    SCOPED_TRACE(fit.name);
    std::vector<double> expected(probs.size(), 0.0);
    double kept_mass = 0;
    for (const int32_t id : fit.kept) kept_mass += probs[static_cast<size_t>(id)];
    for (const int32_t id : fit.kept) {
      expected[static_cast<size_t>(id)] = probs[static_cast<size_t>(id)] / kept_mass;
    }

    Distribution d(seed++);
    std::vector<int> counts(probs.size(), 0);
    Candidates c(probs.size());
    for (int i = 0; i < n; ++i) {
      c.assign(logits);
      if (fit.top_k > 0) TopK(fit.top_k).apply(c);
      if (fit.top_p < 1) TopP(fit.top_p).apply(c);
      d.apply(c);
      ++counts[static_cast<size_t>(c.selected())];
    }
    for (size_t i = 0; i < probs.size(); ++i) {
      if (expected[i] == 0) {
        EXPECT_EQ(counts[i], 0) << "filtered token " << i << " was drawn";
      }
    }
    const double threshold = chi_square_threshold(fit.kept.size());
    const double chi2 = chi_square(counts, expected, n);
    EXPECT_LT(chi2, threshold);
    std::printf("  [%s] chi-square %.2f (df %zu, threshold %.2f)\n", fit.name, chi2,
                fit.kept.size() - 1, threshold);

    std::vector<double> perturbed = expected;
    perturbed[0] -= 0.01;
    perturbed[1] += 0.01;
    EXPECT_GT(chi_square(counts, perturbed, n), threshold) << "the test has no power";
  }
}

// Temperature changes the sampled distribution as p^(1/t): check by chi-square too.
TEST(Distribution, TemperatureReshapesFrequencies) {
  const std::vector<float> logits{0.0f, std::log(2.0f), std::log(4.0f)};  // 1 : 2 : 4
  const std::vector<double> expected{1.0 / 7, 2.0 / 7, 4.0 / 7};
  const std::vector<double> at_half{1.0 / 21, 4.0 / 21, 16.0 / 21};  // squared at t = 0.5
  const int n = 100000;
  Distribution d(77);
  Temperature t(0.5f);
  std::vector<int> counts(3, 0);
  Candidates c(3);
  for (int i = 0; i < n; ++i) {
    c.assign(logits);
    t.apply(c);
    d.apply(c);
    ++counts[static_cast<size_t>(c.selected())];
  }
  EXPECT_LT(chi_square(counts, at_half, n), chi_square_threshold(3));
  EXPECT_GT(chi_square(counts, expected, n), chi_square_threshold(3));
}

TEST(Selectors, NamesAndClones) {
  EXPECT_EQ(Greedy().name(), "greedy");
  EXPECT_EQ(Greedy().clone()->name(), "greedy");
  EXPECT_EQ(Distribution(1).name(), "distribution");
  EXPECT_EQ(Distribution(Rng(1)).rng(), Rng(1));
}

}  // namespace
}  // namespace genarm::sampling
