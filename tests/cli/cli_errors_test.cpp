// The genarm command line on bad input: every mistake a user can make gives one clear line on
// stderr and a non-zero exit code (1 for errors, 2 for usage), never a signal; batch jobs keep the
// results written before the bad line.
#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "cli_support.hpp"

namespace genarm {
namespace {

using testing::fixture_model;
using testing::hf_dir;
using testing::read_file;
using testing::TempDir;
using testing::write_file;

using testing::CliRun;
using testing::run_cli;

// One line on stderr, containing every fragment; the expected exit code.
::testing::AssertionResult fails_with(const CliRun& r, int code, const std::vector<std::string>& fragments) {
  if (r.exit_code != code) {
    return ::testing::AssertionFailure() << "exit code " << r.exit_code << " (want " << code << "), stderr: " << r.err;
  }
  size_t lines = 0;
  for (char c : r.err) lines += c == '\n';
  if (lines != 1) return ::testing::AssertionFailure() << lines << " lines on stderr: " << r.err;
  for (const auto& f : fragments) {
    if (r.err.find(f) == std::string::npos) {
      return ::testing::AssertionFailure() << "stderr lacks '" << f << "': " << r.err;
    }
  }
  return ::testing::AssertionSuccess();
}


// A copy of a fixture model whose file `name` is replaced by `content`.
std::filesystem::path broken_model(const TempDir& dir, const std::string& base, const std::string& name,
                                   const std::string& content) {
  const auto m = dir.path() / (base + "-broken");
  std::filesystem::create_directories(m);
  for (const auto& f : std::filesystem::directory_iterator(hf_dir() / "models" / base)) {
    std::filesystem::copy_file(f.path(), m / f.path().filename(), std::filesystem::copy_options::overwrite_existing);
  }
  write_file(m / name, content);
  return m;
}

TEST(CliErrors, MissingModelFolder) {
  EXPECT_TRUE(fails_with(run_cli({"logits", "--model", "/no/such/model", "--ids", "1"}), 1, {"/no/such/model"}));
}

TEST(CliErrors, TruncatedAndHostileSafetensors) {
  TempDir dir("cli");
  const std::string weights = read_file(hf_dir() / "models" / "llama-tiny" / "model.safetensors");
  auto m = broken_model(dir, "llama-tiny", "model.safetensors", weights.substr(0, weights.size() / 2));
  EXPECT_TRUE(fails_with(run_cli({"logits", "--model", m.string(), "--ids", "1"}), 1, {"model.safetensors"}));
  m = broken_model(dir, "llama-tiny", "model.safetensors", "");
  EXPECT_TRUE(fails_with(run_cli({"logits", "--model", m.string(), "--ids", "1"}), 1, {"model.safetensors", "too short"}));
  std::string absurd(8, '\xff');
  m = broken_model(dir, "llama-tiny", "model.safetensors", absurd + "{}");
  EXPECT_TRUE(fails_with(run_cli({"logits", "--model", m.string(), "--ids", "1"}), 1, {"header length"}));
}

TEST(CliErrors, BadConfigJson) {
  TempDir dir("cli");
  auto m = broken_model(dir, "llama-tiny", "config.json", "{\"hidden_size\": ");
  EXPECT_TRUE(fails_with(run_cli({"logits", "--model", m.string(), "--ids", "1"}), 1, {"config.json", "not valid JSON"}));
  m = broken_model(dir, "llama-tiny", "config.json", "{\"architectures\": [\"BertModel\"]}");
  EXPECT_TRUE(fails_with(run_cli({"logits", "--model", m.string(), "--ids", "1"}), 1, {"BertModel", "not supported"}));
}

TEST(CliErrors, BadTokenizerJson) {
  TempDir dir("cli");
  const auto m = broken_model(dir, "llama-tiny", "tokenizer.json", "{\"model\": {\"type\": \"Unigram\"}}");
  EXPECT_TRUE(fails_with(run_cli({"tokenize", "--tokenizer", m.string(), "--text", "hi"}), 1, {"tokenizer.json"}));
  EXPECT_TRUE(fails_with(run_cli({"generate", "--base", m.string(), "--prompt", "hi"}), 1, {"tokenizer.json"}));
}

TEST(CliErrors, TokenIdsOutsideTheVocabularyAndTheContext) {
  EXPECT_TRUE(fails_with(run_cli({"logits", "--model", fixture_model("llama-tiny"), "--ids", "1,99999"}), 1,
                         {"token id 99999", "vocabulary of 1024"}));
  std::string ids = "1";
  for (int i = 0; i < 300; ++i) ids += ",5";
  EXPECT_TRUE(fails_with(run_cli({"generate", "--base", fixture_model("llama-tiny"), "--prompt-ids", ids}), 1,
                         {"301 tokens", "context of 256"}));
  EXPECT_TRUE(fails_with(run_cli({"detokenize", "--tokenizer", fixture_model("llama-tiny"), "--ids", "5000"}), 1, {"5000"}));
}

TEST(CliErrors, BaseAndArmWithDifferentTokenizers) {
  EXPECT_TRUE(fails_with(run_cli({"generate", "--base", fixture_model("llama-tiny"), "--arm", fixture_model("gpt2-tiny"), "--prompt", "hi"}),
                         1, {"tokenizer of ARM", "gpt2-tiny"}));
}

TEST(CliErrors, InvalidSamplingAndGuidanceParameters) {
  const std::string base = fixture_model("llama-tiny"), arm = fixture_model("llama-tiny-arm");
  const auto gen = [&](std::vector<std::string> extra) {
    std::vector<std::string> a{"generate", "--base", base, "--arm", arm, "--prompt", "hi"};
    a.insert(a.end(), extra.begin(), extra.end());
    return run_cli(a);
  };
  EXPECT_TRUE(fails_with(gen({"--beta", "0"}), 1, {"beta", "> 0"}));
  EXPECT_TRUE(fails_with(gen({"--beta", "-2"}), 1, {"beta"}));
  EXPECT_TRUE(fails_with(gen({"--beta", "nan"}), 1, {"--beta", "nan"}));
  EXPECT_TRUE(fails_with(gen({"--beta", "inf"}), 1, {"--beta", "inf"}));
  EXPECT_TRUE(fails_with(gen({"--top-p", "0"}), 1, {"top_p", "0"}));
  EXPECT_TRUE(fails_with(gen({"--top-p", "1.5"}), 1, {"top_p", "1.5"}));
  EXPECT_TRUE(fails_with(gen({"--temperature", "-1"}), 1, {"temperature", "-1"}));
  EXPECT_TRUE(fails_with(gen({"--weights", "1,2"}), 1, {"2 weight(s) for 1 ARM(s)"}));
  EXPECT_TRUE(fails_with(gen({"--max-new-tokens", "0"}), 1, {"--max-new-tokens", "0"}));
  EXPECT_TRUE(fails_with(gen({"--top-k", "abc"}), 1, {"--top-k", "abc"}));
  EXPECT_TRUE(fails_with(gen({"--stop", ""}), 1, {"stop string is empty"}));
}

TEST(CliErrors, UsageMistakesExitWithTwo) {
  EXPECT_TRUE(fails_with(run_cli({"generate", "--frobnicate"}), 2, {"unknown option '--frobnicate'"}));
  EXPECT_TRUE(fails_with(run_cli({"generate", "--prompt"}), 2, {"--prompt", "needs a value"}));
  EXPECT_TRUE(fails_with(run_cli({"generate"}), 2, {"exactly one of --prompt"}));
  const CliRun r = run_cli({"no-such-command"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown command 'no-such-command'"), std::string::npos);
}

TEST(CliErrors, InvalidUtf8Prompt) {
  EXPECT_TRUE(fails_with(run_cli({"tokenize", "--tokenizer", fixture_model("llama-tiny"), "--text", "ok \xff\xfe bad"}), 1,
                         {"UTF-8", "3"}));
}

TEST(CliErrors, BrokenLineInAPromptsFileFailsBeforeAnyWork) {
  // Every prompt is read before anything runs: the bad line is named, and an earlier results file
  // is left as it was.
  TempDir dir("cli");
  write_file(dir / "in.jsonl", "{\"id\": \"a\", \"prompt\": \"one\"}\n{\"id\": \"b\", \"prompt\": \"two\"}\n{\"id\": \"c\", \"prompt\": \n");
  write_file(dir / "out.jsonl", "{\"id\": \"a\", \"text\": \"kept\"}\n");
  const CliRun r = run_cli({"generate", "--base", fixture_model("llama-tiny"), "--input", (dir / "in.jsonl").string(), "--output",
                         (dir / "out.jsonl").string(), "--max-new-tokens", "3"});
  EXPECT_TRUE(fails_with(r, 1, {"in.jsonl:3", "not valid JSON"}));
  EXPECT_EQ(read_file(dir / "out.jsonl"), "{\"id\": \"a\", \"text\": \"kept\"}\n");
  write_file(dir / "in2.jsonl", "{\"id\": 1, \"prompt\": \"one\"}\n{\"id\": 2, \"text\": \"no prompt key\"}\n");
  EXPECT_TRUE(fails_with(run_cli({"generate", "--base", fixture_model("llama-tiny"), "--input", (dir / "in2.jsonl").string(),
                                  "--output", (dir / "out2.jsonl").string(), "--max-new-tokens", "2"}),
                         1, {"in2.jsonl:2", "prompt"}));
}

TEST(CliErrors, TokenizeInputLinesThatAreNotTexts) {
  TempDir dir("cli");
  write_file(dir / "in.jsonl", "\"fine\"\n{\"id\": 2, \"text\": 7}\n");
  EXPECT_TRUE(fails_with(run_cli({"tokenize", "--tokenizer", fixture_model("llama-tiny"), "--input", (dir / "in.jsonl").string()}),
                         1, {"in.jsonl:2", "\"text\" must be a string"}));
  write_file(dir / "in2.jsonl", "[1, 2]\n");
  EXPECT_TRUE(fails_with(run_cli({"tokenize", "--tokenizer", fixture_model("llama-tiny"), "--input", (dir / "in2.jsonl").string()}),
                         1, {"in2.jsonl:1", "expected a JSON string"}));
  EXPECT_TRUE(fails_with(run_cli({"tokenize", "--tokenizer", fixture_model("llama-tiny"), "--input", (dir / "none.jsonl").string()}),
                         1, {"none.jsonl", "cannot open"}));
  EXPECT_EQ(run_cli({"tokenize", "--tokenizer", fixture_model("llama-tiny"), "--text", "a", "--input", (dir / "in.jsonl").string()}).exit_code, 2);
  EXPECT_EQ(run_cli({"tokenize", "--tokenizer", fixture_model("llama-tiny"), "--text", "a", "--ids-only"}).exit_code, 2);
}

// Batches give the same results as one prompt at a time, and a job killed part-way (its last line
// cut off) is finished by --resume with exactly the missing prompts.
TEST(CliBatch, BatchSizesAgreeAndResumeFinishesAKilledJob) {
  TempDir dir("cli");
  std::string input;
  for (int i = 0; i < 7; ++i) input += "{\"id\": " + std::to_string(i) + ", \"prompt\": \"Prompt number " + std::to_string(i) + "\"}\n";
  write_file(dir / "in.jsonl", input);
  const auto run = [&](const std::string& out, const std::string& batch, bool resume) {
    std::vector<std::string> a{"generate", "--base", fixture_model("llama-tiny"), "--arm", fixture_model("llama-tiny-arm"),
                               "--input", (dir / "in.jsonl").string(), "--output", (dir / out).string(),
                               "--max-new-tokens", "6", "--seed", "3", "--batch-size", batch};
    if (resume) a.push_back("--resume");
    return run_cli(a);
  };
  ASSERT_EQ(run("one.jsonl", "1", false).exit_code, 0);
  ASSERT_EQ(run("four.jsonl", "4", false).exit_code, 0);
  const auto strip_seconds = [](const std::string& text) {
    std::string out;
    size_t start = 0;
    for (size_t nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', start)) {
      auto j = nlohmann::json::parse(text.substr(start, nl - start));
      j.erase("seconds");
      out += j.dump() + "\n";
      start = nl + 1;
    }
    return out;
  };
  const std::string one = strip_seconds(read_file(dir / "one.jsonl"));
  EXPECT_EQ(one, strip_seconds(read_file(dir / "four.jsonl")));
  // "Killed" after three complete lines and half of the fourth.
  const std::string full = read_file(dir / "one.jsonl");
  size_t cut = 0;
  for (int i = 0; i < 3; ++i) cut = full.find('\n', cut) + 1;
  write_file(dir / "killed.jsonl", full.substr(0, cut) + full.substr(cut, 20));
  const CliRun resumed = run("killed.jsonl", "3", true);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("4 new, 3 kept"), std::string::npos) << resumed.err;
  EXPECT_EQ(strip_seconds(read_file(dir / "killed.jsonl")), one);
}

TEST(CliErrors, ARewardModelWhereACausalLmBelongs) {
  EXPECT_TRUE(fails_with(run_cli({"generate", "--base", fixture_model("llama-tiny"), "--arm", fixture_model("llama-rm-tiny"), "--prompt", "hi"}),
                         1, {"LlamaForSequenceClassification"}));
  EXPECT_TRUE(fails_with(run_cli({"generate", "--method", "args", "--base", fixture_model("llama-tiny"), "--rm",
                                  fixture_model("llama-tiny-arm"), "--prompt", "hi"}),
                         1, {"trajectory reward model"}));
}

}  // namespace
}  // namespace genarm
