// The command line reproduces the Hugging Face golden outputs, as the library does: logits,
// token ids, GenARM greedy paths (three betas, multi-objective, weak-to-strong), ARGS, ARM rewards.
#include <nlohmann/json.hpp>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "cli_support.hpp"
#include "genarm/guidance/guided_policy.hpp"

namespace genarm {
namespace {

using testing::fixture_model;
using testing::hf_dir;
using testing::load_json;
using testing::run_cli;


std::string join(const std::vector<int32_t>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s;
}

nlohmann::json run_json(const std::vector<std::string>& args) {
  const auto r = run_cli(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out);
}

// Steps of greedy GenARM decoding before the first top-2 margin under 1e-3 (computed with the
// library): only these are judged against the fixture.
size_t judged_steps(const std::string& base, const std::vector<std::string>& arms, const Guidance& g,
                    const std::vector<int32_t>& prompt, size_t steps) {
  std::vector<TransformerSource> guides;
  for (const auto& a : arms) guides.emplace_back(model::Transformer::load(fixture_model(a)));
  GuidedPolicy<TransformerSource> policy(TransformerSource(model::Transformer::load(fixture_model(base))), std::move(guides), 1024, g);
  policy.start(prompt);
  for (size_t s = 0; s < steps; ++s) {
    const auto z = policy.next_logits();
    std::vector<float> sorted(z.begin(), z.end());
    std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<float>());
    if (sorted[0] - sorted[1] < 1e-3f) return s;
    policy.advance(static_cast<int32_t>(std::max_element(z.begin(), z.end()) - z.begin()));
  }
  return steps;
}

void expect_prefix(const std::vector<int32_t>& got, const std::vector<int32_t>& want, size_t judged) {
  ASSERT_GE(got.size(), judged);
  for (size_t i = 0; i < judged && i < want.size(); ++i) EXPECT_EQ(got[i], want[i]) << "step " << i;
}

TEST(CliFixtures, LogitsMatchTransformers) {
  const auto expected = load_json(hf_dir() / "models" / "llama-tiny" / "expected.json");
  const auto& seq = expected["sequences"][1];
  const auto out = run_json({"logits", "--model", fixture_model("llama-tiny"), "--ids", join(seq["ids"].get<std::vector<int32_t>>()),
                             "--all-positions", "--json"});
  ASSERT_EQ(out["logits"].size(), seq["logits"].size());
  for (size_t t = 0; t < seq["logits"].size(); ++t) {
    EXPECT_TRUE(testing::rows_near(testing::json_to_vector(out["logits"][t]), testing::json_to_vector(seq["logits"][t]), 1e-5));
  }
}

TEST(CliFixtures, TokenizeMatchesTokenizers) {
  const auto cases = load_json(hf_dir() / "tokenizers" / "toy-spm" / "cases.json");
  for (const auto& c : cases) {
    if (c["text"].get<std::string>().empty()) continue;
    const auto out = run_json({"tokenize", "--tokenizer", (hf_dir() / "tokenizers" / "toy-spm").string(), "--text",
                               c["text"].get<std::string>(), "--json"});
    EXPECT_EQ(out["ids"], c["ids"]) << c["text"];
  }
}

// tokenize --input: one process for many texts (strings and {"id", "text"} objects, the empty
// text too), one line out per line in and in order, equal to tokenizers' encode_batch.
TEST(CliFixtures, TokenizeInputMatchesTokenizersLineByLine) {
  for (const char* name : {"gpt2", "toy-spm", "toy-bytelevel"}) {
    const auto dir = hf_dir() / "tokenizers" / name;
    const auto cases = load_json(dir / "cases.json");
    const auto input = std::filesystem::temp_directory_path() / ("genarm_tokenize_input_" + std::to_string(::getpid()) + ".jsonl");
    {
      std::ofstream f(input);
      for (size_t i = 0; i < cases.size(); ++i) {
        const auto& text = cases[i]["text"];
        f << (i % 2 ? nlohmann::json{{"id", i}, {"text", text}} : text).dump() << "\n";
      }
    }
    for (const bool special : {true, false}) {
      std::vector<std::string> args{"tokenize", "--tokenizer", dir.string(), "--input", input.string(), "--threads", "2"};
      if (!special) args.push_back("--no-special");
      const auto r = run_cli(args);
      ASSERT_EQ(r.exit_code, 0) << r.err;
      std::istringstream lines(r.out);
      std::string line;
      size_t i = 0;
      for (; std::getline(lines, line); ++i) {
        ASSERT_LT(i, cases.size()) << name;
        const auto got = nlohmann::json::parse(line);
        EXPECT_EQ(got["ids"], cases[i][special ? "ids" : "ids_no_special"]) << name << " " << cases[i]["text"];
        if (!special) {
          EXPECT_EQ(got["tokens"], cases[i]["tokens_no_special"]) << name;
        }
        EXPECT_EQ(got.contains("id"), i % 2 == 1);
        if (i % 2) {
          EXPECT_EQ(got["id"], i);
        }
      }
      EXPECT_EQ(i, cases.size()) << name;
    }
    std::filesystem::remove(input);
  }
}

TEST(CliFixtures, GenArmGreedyPathsMatch) {
  for (const char* family : {"genarm", "genarm-weak-to-strong"}) {
    const auto expected = load_json(hf_dir() / family / "expected.json");
    const std::string base = std::string(family) == "genarm" ? "llama-tiny" : "llama-small";
    const auto prompt = expected["prompt"].get<std::vector<int32_t>>();
    for (const auto& c : expected["guided_greedy"]) {
      const float beta = c["beta"].get<float>();
      const auto out = run_json({"generate", "--base", fixture_model(base), "--arm", fixture_model("llama-tiny-arm"), "--beta",
                                 std::to_string(beta), "--prompt-ids", join(prompt), "--greedy", "--ignore-eos",
                                 "--max-new-tokens", "16", "--json"});
      const auto want = c["new_tokens"].get<std::vector<int32_t>>();
      expect_prefix(out["ids"].get<std::vector<int32_t>>(), want,
                    judged_steps(base, {"llama-tiny-arm"}, Guidance{{}, beta}, prompt, want.size()));
    }
    for (const auto& c : expected["multi_objective"]) {
      const auto weights = c["weights"].get<std::vector<float>>();
      const float beta = c["beta"].get<float>();
      const auto out = run_json({"generate", "--base", fixture_model(base), "--arm", fixture_model("llama-tiny-arm"), "--arm",
                                 fixture_model("llama-tiny-arm2"), "--weights",
                                 std::to_string(weights[0]) + "," + std::to_string(weights[1]), "--beta",
                                 std::to_string(beta), "--prompt-ids", join(prompt), "--greedy", "--ignore-eos",
                                 "--max-new-tokens", "16", "--json"});
      const auto want = c["new_tokens"].get<std::vector<int32_t>>();
      expect_prefix(out["ids"].get<std::vector<int32_t>>(), want,
                    judged_steps(base, {"llama-tiny-arm", "llama-tiny-arm2"}, Guidance{weights, beta}, prompt, want.size()));
    }
  }
}

TEST(CliFixtures, ArgsGreedyMatches) {
  const auto expected = load_json(hf_dir() / "genarm" / "expected.json");
  const auto prompt = expected["prompt"].get<std::vector<int32_t>>();
  for (const auto& c : expected["args_greedy"]) {
    const auto out = run_json({"generate", "--method", "args", "--base", fixture_model("llama-tiny"), "--rm", fixture_model("llama-rm-tiny"),
                               "--k", std::to_string(c["k"].get<int>()), "--w", std::to_string(c["w"].get<float>()),
                               "--prompt-ids", join(prompt), "--greedy", "--ignore-eos", "--max-new-tokens", "10", "--json"});
    // Both fixture paths have top-2 score margins above 1e-3 (min 0.0049): judged whole.
    EXPECT_EQ(out["ids"].get<std::vector<int32_t>>(), c["new_tokens"].get<std::vector<int32_t>>());
  }
}

TEST(CliFixtures, ArmRewardsMatch) {
  testing::TempDir dir("cli_score");
  for (const char* family : {"genarm", "genarm-weak-to-strong"}) {
    const auto expected = load_json(hf_dir() / family / "expected.json");
    std::string lines;
    for (const auto& c : expected["arm_reward"]) {
      lines += nlohmann::json{{"prompt_ids", expected["prompt"]}, {"response_ids", c["response"]}}.dump() + "\n";
    }
    testing::write_file(dir / "in.jsonl", lines);
    const auto r = run_cli({"score", "--arm", fixture_model("llama-tiny-arm"), "--input", (dir / "in.jsonl").string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::istringstream out(r.out);
    std::string line;
    size_t i = 0;
    while (std::getline(out, line)) {
      const double want = expected["arm_reward"][i++]["reward"].get<double>();
      EXPECT_NEAR(nlohmann::json::parse(line)["reward"].get<double>(), want, 1e-5 * std::abs(want));
    }
    EXPECT_EQ(i, expected["arm_reward"].size());
  }
}

}  // namespace
}  // namespace genarm
