#include "genarm/sampling/sampler_params.hpp"

#include <limits>
#include <map>
#include <string>
#include <vector>

#include "genarm/sampling/sampler.hpp"
#include "sampling_helpers.hpp"
#include "test_support.hpp"

namespace genarm::sampling {
namespace {

using genarm::testing::hf_dir;
using genarm::testing::json_to_vector;
using genarm::testing::load_json;

using test::kInf;

std::vector<std::string> step_names(const Chain& chain) {
  std::vector<std::string> names;
  for (size_t i = 0; i < chain.size(); ++i) names.emplace_back(chain.at(i).name());
  return names;
}

using Names = std::vector<std::string>;

TEST(SamplerParams, DefaultsGivePlainSampling) {
  const SamplerParams p;
  EXPECT_NO_THROW(p.validate());
  EXPECT_FALSE(p.is_greedy());
  EXPECT_EQ(step_names(make_chain(p)), Names{"distribution"});
}

TEST(SamplerParams, DefaultOrderFollowsHuggingFace) {
  SamplerParams p;
  p.temperature = 0.8f;
  p.top_k = 40;
  p.top_p = 0.95f;
  p.min_p = 0.05f;
  p.typical_p = 0.9f;
  p.repetition_penalty = 1.1f;
  p.frequency_penalty = 0.5f;
  p.logit_bias = {{3, -1.0f}};
  EXPECT_EQ(step_names(make_chain(p)),
            (Names{"logit_bias", "repetition_penalty", "frequency_presence_penalty", "temperature",
                   "top_k", "top_p", "min_p", "typical", "distribution"}));
}

TEST(SamplerParams, DisabledStepsAreSkipped) {
  SamplerParams p;
  p.top_k = 0;
  p.top_p = 1;
  p.min_p = 0;
  p.typical_p = 1;
  p.temperature = 1;
  p.repetition_penalty = 1;
  EXPECT_EQ(step_names(make_chain(p)), Names{"distribution"});
  p.presence_penalty = 0.5f;  // presence alone enables the frequency/presence step
  EXPECT_EQ(step_names(make_chain(p)), (Names{"frequency_presence_penalty", "distribution"}));
}

TEST(SamplerParams, GreedyKeepsOnlyBiasAndPenalties) {
  SamplerParams p;
  p.temperature = 0;  // temperature 0 means greedy
  p.top_k = 5;
  p.top_p = 0.5f;
  p.repetition_penalty = 1.2f;
  p.logit_bias = {{1, 2.0f}};
  EXPECT_TRUE(p.is_greedy());
  EXPECT_EQ(step_names(make_chain(p)), (Names{"logit_bias", "repetition_penalty", "greedy"}));
  SamplerParams q;
  q.greedy = true;
  q.temperature = 0.7f;
  EXPECT_EQ(step_names(make_chain(q)), Names{"greedy"});
}

TEST(SamplerParams, CustomOrderIsFollowed) {
  SamplerParams p;
  p.temperature = 0.5f;
  p.top_k = 10;
  p.min_p = 0.1f;
  p.order = {"top_k", "min_p", "temperature", "typical"};  // typical listed but disabled: skipped
  EXPECT_EQ(step_names(make_chain(p)), (Names{"top_k", "min_p", "temperature", "distribution"}));
}

TEST(SamplerParams, ValidationNamesParameterAndValue) {
  const auto check = [](auto mutate, std::vector<std::string> fragments) {
    SamplerParams p;
    mutate(p);
    try {
      p.validate();
      ADD_FAILURE() << "expected an error containing " << fragments[0];
    } catch (const Error& e) {
      EXPECT_EQ(e.category(), ErrorCategory::kInvalidArgument);
      for (const auto& f : fragments) {
        EXPECT_NE(std::string(e.what()).find(f), std::string::npos)
            << "'" << e.what() << "' lacks '" << f << "'";
      }
    }
    // make_chain and Sampler validate too.
    EXPECT_THROW(make_chain(p), Error);
    EXPECT_THROW(Sampler(p, 10), Error);
  };
  check([](SamplerParams& p) { p.temperature = -0.5f; }, {"temperature", "-0.5", ">= 0"});
  check([](SamplerParams& p) { p.temperature = kInf; }, {"temperature", "inf"});
  check([](SamplerParams& p) { p.temperature = std::nanf(""); }, {"temperature", "nan"});
  check([](SamplerParams& p) { p.top_k = -3; }, {"top_k", "-3"});
  check([](SamplerParams& p) { p.top_p = 0; }, {"top_p", "= 0", "(0, 1]"});
  check([](SamplerParams& p) { p.top_p = 1.5f; }, {"top_p", "1.5"});
  check([](SamplerParams& p) { p.min_p = -0.1f; }, {"min_p", "-0.1", "[0, 1]"});
  check([](SamplerParams& p) { p.min_p = 2; }, {"min_p", "= 2"});
  check([](SamplerParams& p) { p.typical_p = 0; }, {"typical_p", "= 0"});
  check([](SamplerParams& p) { p.typical_p = 1.25f; }, {"typical_p", "1.25"});
  check([](SamplerParams& p) { p.repetition_penalty = 0; }, {"repetition_penalty", "= 0", "> 0"});
  check([](SamplerParams& p) { p.repetition_penalty = -1; }, {"repetition_penalty", "-1"});
  check([](SamplerParams& p) { p.frequency_penalty = kInf; }, {"frequency_penalty", "inf"});
  check([](SamplerParams& p) { p.presence_penalty = std::nanf(""); }, {"presence_penalty", "nan"});
  check([](SamplerParams& p) { p.penalty_window = -2; }, {"penalty_window", "-2"});
  check([](SamplerParams& p) { p.logit_bias = {{-4, 1.0f}}; }, {"logit_bias", "-4"});
  check([](SamplerParams& p) { p.logit_bias = {{4, kInf}}; }, {"logit_bias", "token 4", "inf"});
  check(
      [](SamplerParams& p) {
        p.logit_bias = {{4, 1.0f}, {2, 0.5f}, {4, -1.0f}};
      },
      {"logit_bias", "token 4", "more than once"});
  check(
      [](SamplerParams& p) {
        p.order = {"temperature", "top_q"};
      },
      {"order", "unknown step 'top_q'", "top_p"});
  check([](SamplerParams& p) { p.order = {"top_k", "top_k"}; }, {"order", "'top_k'", "twice"});
  check(
      [](SamplerParams& p) {
        p.top_p = 0.9f;
        p.order = {"temperature", "top_k"};
      },
      {"order omits 'top_p'", "top_p = 0.9"});
}

TEST(SamplerParams, BoundaryValuesAreValid) {
  SamplerParams p;
  p.temperature = 0;
  p.top_p = 1;
  p.min_p = 1;
  p.typical_p = 1;
  p.frequency_penalty = -2;  // negative penalties reward repeats, as OpenAI allows
  p.logit_bias = {{0, -kInf}};
  EXPECT_NO_THROW(p.validate());
  p.greedy = true;
  p.top_p = 0.9f;
  p.order = {"logit_bias", "penalties"};  // top_p does not run under greedy: need not be listed
  EXPECT_NO_THROW(p.validate());
}

// HF generate() processors -> genarm step names.
std::string step_for_hf_class(const std::string& hf) {
  static const std::map<std::string, std::string> kMap = {
      {"RepetitionPenaltyLogitsProcessor", "penalties"},
      {"TemperatureLogitsWarper", "temperature"},
      {"TopKLogitsWarper", "top_k"},
      {"TopPLogitsWarper", "top_p"},
      {"MinPLogitsWarper", "min_p"},
      {"TypicalLogitsWarper", "typical"}};
  const auto it = kMap.find(hf);
  if (it == kMap.end()) throw std::runtime_error("fixture uses unknown HF processor " + hf);
  return it->second;
}

SamplerParams params_from_fixture(const nlohmann::json& c) {
  SamplerParams p;
  const auto& j = c.at("params");
  for (const auto& [key, value] : j.items()) {
    if (key == "temperature")
      p.temperature = value.get<float>();
    else if (key == "top_k")
      p.top_k = value.get<int>();
    else if (key == "top_p")
      p.top_p = value.get<float>();
    else if (key == "min_p")
      p.min_p = value.get<float>();
    else if (key == "typical_p")
      p.typical_p = value.get<float>();
    else if (key == "repetition_penalty")
      p.repetition_penalty = value.get<float>();
    else
      throw std::runtime_error("fixture uses unknown parameter " + key);
  }
  for (const auto& hf : c.at("order")) p.order.push_back(step_for_hf_class(hf.get<std::string>()));
  return p;
}

// Every fixture case: random logits (some -inf) through HF's processors; our chain must give the
// same distribution, including exactly the same set of removed tokens.
TEST(SamplerParams, ReproducesHuggingFaceProcessors) {
  const auto fixture = load_json(hf_dir() / "sampler" / "cases.json");
  const auto& cases = fixture.at("cases");
  ASSERT_GE(cases.size(), 15u);
  int index = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE("case " + std::to_string(index++) + " " + c.at("name").get<std::string>() + " " +
                 c.at("params").dump());
    const Eigen::VectorXf logits = json_to_vector(c.at("logits"));
    const auto& expected = c.at("probs");
    ASSERT_EQ(static_cast<size_t>(logits.size()), expected.size());
    const size_t vocab = expected.size();

    Sampler sampler(params_from_fixture(c), vocab);
    for (const auto& id : c.at("previous_ids")) sampler.accept(id.get<int32_t>());
    const int32_t token = sampler.sample({logits.data(), vocab});

    std::vector<double> probs;
    sampler.last_candidates().dense_probabilities(vocab, probs);
    double worst_abs = 0;
    double worst_rel = 0;
    size_t kept = 0;
    for (size_t i = 0; i < vocab; ++i) {
      const double e = expected[i].get<double>();
      const double a = probs[i];
      if (e == 0.0) {
        EXPECT_EQ(a, 0.0) << "token " << i << " should be removed";
        continue;
      }
      ++kept;
      EXPECT_GT(a, 0.0) << "token " << i << " should be kept (HF p = " << e << ")";
      worst_abs = std::max(worst_abs, std::abs(a - e));
      worst_rel = std::max(worst_rel, std::abs(a - e) / e);
    }
    EXPECT_LE(worst_abs, 1e-6);
    EXPECT_LE(worst_rel, 1e-5);
    // -inf inputs may stay in the array (with probability 0); every finite survivor is a kept
    // token.
    size_t finite = 0;
    for (const TokenLogit& t : sampler.last_candidates().items()) finite += t.logit > -kInf;
    EXPECT_EQ(finite, kept) << "candidates left after the filters";
    EXPECT_GT(expected[static_cast<size_t>(token)].get<double>(), 0.0) << "sampled a removed token";
    std::printf("  [%s] kept %zu/%zu, max abs err %.2e, max rel err %.2e\n",
                c.at("name").get<std::string>().c_str(), kept, vocab, worst_abs, worst_rel);
  }
}

}  // namespace
}  // namespace genarm::sampling
