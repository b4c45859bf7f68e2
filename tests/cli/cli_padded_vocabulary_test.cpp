// The command line with an ARM whose vocabulary is the base's plus a padding token ([PAD] at id
// 1024, 1025 logit rows): generate, eval and score give exactly what the unpadded ARM gives, the
// accepted difference is noted once on stderr, and a tokenizer that really differs is refused.
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli_support.hpp"

namespace genarm {
namespace {

namespace fs = std::filesystem;
using testing::CliRun;
using testing::fixture_model;
using testing::fixtures_dir;
using testing::read_file;
using testing::run_cli;
using testing::TempDir;
using testing::write_file;

std::string padded_arm() { return (fixtures_dir() / "padded" / "llama-tiny-arm-padded").string(); }
std::string differing_arm() { return (fixtures_dir() / "padded" / "llama-tiny-arm-differs").string(); }
const std::string kPadNote = "genarm: note: ARM " + padded_arm() +
                             ": 1 extra token: 1024 '[PAD]' (special) beyond the base vocabulary of 1024 tokens, cut "
                             "away when decoding\n";

size_t occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// A result line without its timing.
nlohmann::json without_time(nlohmann::json j) {
  j.erase("seconds");
  return j;
}

TEST(CliPaddedVocabulary, GenerateGivesExactlyTheUnpaddedArmsResultAndNotesItOnce) {
  for (const std::vector<std::string>& sampling : {std::vector<std::string>{"--greedy"},
                                                   std::vector<std::string>{"--seed", "5", "--top-p", "0.9"}}) {
    std::vector<std::string> common{"generate", "--base", fixture_model("llama-tiny"), "--prompt", "The weather today",
                                    "--max-new-tokens", "12", "--beta", "0.5", "--json", "--details"};
    common.insert(common.end(), sampling.begin(), sampling.end());
    auto plain_args = common, padded_args = common;
    plain_args.insert(plain_args.end(), {"--arm", fixture_model("llama-tiny-arm")});
    padded_args.insert(padded_args.end(), {"--arm", padded_arm()});
    const CliRun plain = run_cli(plain_args);
    const CliRun padded = run_cli(padded_args);
    ASSERT_EQ(plain.exit_code, 0) << plain.err;
    ASSERT_EQ(padded.exit_code, 0) << padded.err;
    EXPECT_EQ(plain.err, "");
    EXPECT_EQ(padded.err, kPadNote);
    EXPECT_EQ(without_time(nlohmann::json::parse(padded.out)), without_time(nlohmann::json::parse(plain.out)));
  }
}

TEST(CliPaddedVocabulary, BatchedGenerateAndEvalNoteOnceAndScoreTheSame) {
  TempDir tmp("padded");
  write_file(tmp / "prompts.jsonl", "{\"id\": 1, \"prompt\": \"Once\"}\n{\"id\": 2, \"prompt\": \"We went to the\"}\n");
  // generate --input: the batch engine.
  std::map<std::string, std::vector<nlohmann::json>> lines;
  for (const auto& [name, arm] : {std::pair{"plain", fixture_model("llama-tiny-arm")}, std::pair{"padded", padded_arm()}}) {
    const auto out = tmp / (std::string(name) + ".jsonl");
    const CliRun r = run_cli({"generate", "--base", fixture_model("llama-tiny"), "--arm", arm, "--input",
                              (tmp / "prompts.jsonl").string(), "--output", out.string(), "--max-new-tokens", "8",
                              "--seed", "3", "--details"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(occurrences(r.err, "genarm: note:"), std::string(name) == "padded" ? 1u : 0u) << r.err;
    std::istringstream in(read_file(out));
    for (std::string line; std::getline(in, line);) lines[name].push_back(without_time(nlohmann::json::parse(line)));
  }
  EXPECT_EQ(lines["padded"], lines["plain"]);
  ASSERT_EQ(lines["plain"].size(), 2u);

  // eval: three GenARM runs with the padded ARM, which also judges them: one note.
  std::map<std::string, nlohmann::json> tables;
  for (const auto& [name, arm] : {std::pair{"plain", fixture_model("llama-tiny-arm")}, std::pair{"padded", padded_arm()}}) {
    const auto out = tmp / (std::string("eval-") + name);
    // (--method genarm without arms= takes the --arm list: arms=A/B cannot hold folder paths.)
    const CliRun r = run_cli({"eval", "--base", fixture_model("llama-tiny"), "--arm", arm, "--method",
                              "genarm:beta=2", "--method", "genarm:beta=1", "--method", "genarm:beta=0.5", "--prompts",
                              (tmp / "prompts.jsonl").string(), "--max-new-tokens", "6", "--out", out.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(occurrences(r.err, "genarm: note:"), std::string(name) == "padded" ? 1u : 0u) << r.err;
    if (std::string(name) == "padded") {
      EXPECT_EQ(occurrences(r.err, kPadNote), 1u) << r.err;
    }
    tables[name] = testing::load_json(out / "table.json");
  }
  ASSERT_EQ(tables["plain"].size(), 3u);
  ASSERT_EQ(tables["padded"].size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    // The same generations, judged over the base's vocabulary: the same ARM rewards.
    EXPECT_EQ(tables["padded"][i]["new_tokens"], tables["plain"][i]["new_tokens"]);
    EXPECT_EQ(tables["padded"][i]["sentiment"], tables["plain"][i]["sentiment"]);
    EXPECT_EQ(tables["padded"][i]["arm_rewards"]["llama-tiny-arm-padded"],
              tables["plain"][i]["arm_rewards"]["llama-tiny-arm"]);
  }

  // score --base: the reward over the base's vocabulary, as decoding sees it.
  write_file(tmp / "responses.jsonl", "{\"prompt\": \"Once\", \"response\": \" upon a time\"}\n");
  const auto score = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> args{"score", "--input", (tmp / "responses.jsonl").string()};
    args.insert(args.end(), extra.begin(), extra.end());
    const CliRun r = run_cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return std::make_pair(nlohmann::json::parse(r.out)["reward"].get<double>(), r.err);
  };
  const auto plain = score({"--arm", fixture_model("llama-tiny-arm")});
  const auto padded_alone = score({"--arm", padded_arm()});
  const auto padded_with_base = score({"--arm", padded_arm(), "--base", fixture_model("llama-tiny")});
  EXPECT_EQ(padded_with_base.first, plain.first);
  EXPECT_EQ(padded_with_base.second, kPadNote);
  EXPECT_NE(padded_alone.first, plain.first);  // over its own 1025 tokens: [PAD] takes some mass
  EXPECT_EQ(padded_alone.second, "");
}

TEST(CliPaddedVocabulary, RefusesATokenizerThatDiffersOrASmallerVocabulary) {
  const std::string differs_message = "differs from the base model's (" + fixture_model("llama-tiny") +
                                      "): at id 340, 'z' in the base and 'z\u02bc' in the ";
  CliRun r = run_cli({"generate", "--base", fixture_model("llama-tiny"), "--arm", differing_arm(), "--prompt", "Hi",
                      "--max-new-tokens", "2"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "genarm generate: error: the tokenizer of ARM " + differing_arm() + " " + differs_message +
                       "ARM: GenARM needs base and ARMs to share one tokenizer\n");
  // As a reward model (ARGS): refused before its weights are read.
  r = run_cli({"generate", "--base", fixture_model("llama-tiny"), "--method", "args", "--rm", differing_arm(),
               "--prompt", "Hi", "--max-new-tokens", "2"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "genarm generate: error: the tokenizer of reward model " + differing_arm() + " " +
                       differs_message + "reward model: it must read the same token ids\n");
  // A padded base guided by an unpadded ARM: the ARM cannot read id 1024.
  r = run_cli({"generate", "--base", padded_arm(), "--arm", fixture_model("llama-tiny-arm"), "--prompt", "Hi",
               "--max-new-tokens", "2"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("its vocabulary is smaller: 1024 token ids in the ARM and 1025 in the base"), std::string::npos)
      << r.err;
  EXPECT_EQ(occurrences(r.err, "\n"), 1u);
  r = run_cli({"score", "--arm", differing_arm(), "--base", fixture_model("llama-tiny"), "--input", "/dev/null"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("at id 340"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace genarm
