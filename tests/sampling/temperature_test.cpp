#include "genarm/sampling/temperature.hpp"

#include <cmath>
#include <vector>

#include "sampling_helpers.hpp"
#include "test_support.hpp"

namespace genarm::sampling {
namespace {

using test::candidates_of;
using test::kInf;
using test::logit_of;

TEST(Temperature, DividesLogits) {
  Temperature t(0.5f);
  Candidates c = candidates_of({1.0f, -3.0f, -kInf, 0.0f});
  t.apply(c);
  EXPECT_EQ(logit_of(c, 0), 2.0f);
  EXPECT_EQ(logit_of(c, 1), -6.0f);
  EXPECT_EQ(logit_of(c, 2), -kInf);
  EXPECT_EQ(logit_of(c, 3), 0.0f);
}

// p_i ∝ p_i_original^(1/t): with weights 1 and 4 at t = 2 the ratio becomes 1 : 2.
TEST(Temperature, SharpensOrFlattensTheDistribution) {
  Temperature t(2.0f);
  Candidates c = candidates_of({0.0f, std::log(4.0f)});
  t.apply(c);
  const auto p = test::dense(c);
  EXPECT_NEAR(p[0], 1.0 / 3, 1e-7);
  EXPECT_NEAR(p[1], 2.0 / 3, 1e-7);
}

TEST(Temperature, KeepsSortedOrderAndFiniteness) {
  Temperature t(1e-30f);
  Candidates c = candidates_of({1e10f, -1e10f, 1.0f});
  c.sort_descending();
  t.apply(c);
  EXPECT_TRUE(c.sorted());
  EXPECT_EQ(logit_of(c, 0), std::numeric_limits<float>::max());
  EXPECT_EQ(logit_of(c, 1), -std::numeric_limits<float>::max());
  const auto p = test::dense(c);  // no NaN: all mass on the top token
  EXPECT_EQ(p[0], 1.0);
  EXPECT_EQ(p[1], 0.0);
}

TEST(Temperature, RejectsZeroNegativeAndNonFinite) {
  GENARM_EXPECT_ERROR(Temperature(0.0f), ErrorCategory::kInvalidArgument, "temperature = 0",
                      "greedy");
  GENARM_EXPECT_ERROR(Temperature(-1.0f), ErrorCategory::kInvalidArgument, "temperature = -1");
  GENARM_EXPECT_ERROR(Temperature{kInf}, ErrorCategory::kInvalidArgument, "temperature = inf");
  EXPECT_EQ(Temperature(0.7f).clone()->name(), "temperature");
}

}  // namespace
}  // namespace genarm::sampling
