// --weight-type (also --weights TYPE): every model's weights kept as asked, converted at load.
#include <cmath>
#include <nlohmann/json.hpp>

#include "cli_support.hpp"

namespace genarm {
namespace {

using testing::fixture_model;
using testing::run_cli;

std::vector<double> last_logits(const std::vector<std::string>& extra) {
  std::vector<std::string> args{"logits", "--model", fixture_model("llama-tiny"), "--ids", "1,5,9,2,7", "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  const auto r = run_cli(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out)["logits"].back().get<std::vector<double>>();
}

double kl(const std::vector<double>& p_logits, const std::vector<double>& q_logits) {
  const auto log_softmax = [](const std::vector<double>& z) {
    const double m = *std::max_element(z.begin(), z.end());
    double sum = 0;
    for (double v : z) sum += std::exp(v - m);
    std::vector<double> out;
    for (double v : z) out.push_back(v - m - std::log(sum));
    return out;
  };
  const auto lp = log_softmax(p_logits), lq = log_softmax(q_logits);
  double d = 0;
  for (size_t i = 0; i < lp.size(); ++i) d += std::exp(lp[i]) * (lp[i] - lq[i]);
  return d;
}

TEST(CliWeightType, TypesConvertAtLoadWithinTheirError) {
  const auto stored = last_logits({});
  EXPECT_EQ(last_logits({"--weight-type", "f32"}), stored);  // the fixture is F32: converting is a copy
  const auto q8 = last_logits({"--weight-type", "q8_0"});
  const auto q4 = last_logits({"--weight-type", "q4_0"});
  ASSERT_EQ(q8.size(), stored.size());
  EXPECT_NE(q8, stored);
  EXPECT_LT(kl(stored, q8), 1e-2);
  EXPECT_LT(kl(stored, q8), kl(stored, q4));  // 8 bits are closer than 4
}

TEST(CliWeightType, GenerateTakesBothSpellingsAndArmWeightsStayNumbers) {
  const std::vector<std::string> common{"generate", "--base", "toy-base", "--arm", "toy-arm-positive", "--prompt", "The weather",
                                        "--greedy", "--max-new-tokens", "6", "--json"};
  auto with = [&](std::vector<std::string> extra) {
    auto args = common;
    args.insert(args.end(), extra.begin(), extra.end());
    return run_cli(args);
  };
  const auto a = with({"--weights", "q8_0"});
  const auto b = with({"--weight-type", "q8_0"});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(nlohmann::json::parse(a.out)["ids"], nlohmann::json::parse(b.out)["ids"]);
  const auto c = with({"--weights", "0.5", "--weight-type", "q8_0"});
  EXPECT_EQ(c.exit_code, 0) << c.err;
}

TEST(CliWeightType, BadNamesAndTwoSpellingsAreRefused) {
  const auto bad = run_cli({"logits", "--model", fixture_model("llama-tiny"), "--ids", "1", "--weight-type", "q3_k"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("--weight-type"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("q3_k"), std::string::npos) << bad.err;
  const auto both = run_cli({"generate", "--prompt", "x", "--weights", "bf16", "--weight-type", "f32"});
  EXPECT_EQ(both.exit_code, 2) << both.err;
}

}  // namespace
}  // namespace genarm
