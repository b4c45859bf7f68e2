// PEFT LoRA adapters as ARMs on the command line: `--arm ADAPTER` (its base: --arm-base, else its
// own local base_model_name_or_path, else --base) decodes as the same ARM merged into a full
// model, one prompt at a time and through the batch engine (--input); `genarm inspect` reads the
// adapter against --base with the loader.
#include <filesystem>
#include <string>
#include <vector>

#include "cli_support.hpp"
#include "genarm/io/safetensors_writer.hpp"
#include "genarm/model/synthetic.hpp"
#include "../model/model_test_helpers.hpp"

namespace genarm::cli_lora_test_helpers {

namespace fs = std::filesystem;

// A rank-8 adapter of llama-tiny on q/k/v/o/gate/up/down (random factors, lora_alpha 16) whose
// base_model_name_or_path is `base_name`, and the merged model W + 2 B A beside it.
void write_adapter_and_merged(const fs::path& adapter, const fs::path& merged, const std::string& base_name) {
  const fs::path base = testing::hf_dir() / "models" / "llama-tiny";
  testing::RawTensors tensors = testing::read_raw_tensors(base / "model.safetensors");
  io::SafetensorsWriter w;
  model::detail::WeightNoise noise(33);
  const int64_t r = 8;
  for (int l = 0; l < 2; ++l) {
    for (const char* leaf : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                             "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"}) {
      const std::string module = "model.layers." + std::to_string(l) + "." + leaf;
      testing::RawTensor& t = tensors.at(module + ".weight");
      const int64_t out = t.shape[0], in = t.shape[1];
      std::vector<float> a(static_cast<size_t>(r * in)), b(static_cast<size_t>(out * r));
      for (auto& v : a) v = noise.uniform(0.15f);
      for (auto& v : b) v = noise.uniform(0.35f);
      w.add("base_model.model." + module + ".lora_A.weight", {r, in}, a);
      w.add("base_model.model." + module + ".lora_B.weight", {out, r}, b);
      auto* weights = reinterpret_cast<float*>(t.bytes.data());
      for (int64_t o = 0; o < out; ++o) {
        for (int64_t i = 0; i < in; ++i) {
          double delta = 0.0;
          for (int64_t k = 0; k < r; ++k) delta += static_cast<double>(b[static_cast<size_t>(o * r + k)]) * a[static_cast<size_t>(k * in + i)];
          weights[o * in + i] = static_cast<float>(weights[o * in + i] + 2.0 * delta);
        }
      }
    }
  }
  fs::create_directories(adapter);
  w.write(adapter / "adapter_model.safetensors");
  const nlohmann::json config = {{"peft_type", "LORA"}, {"task_type", "CAUSAL_LM"}, {"base_model_name_or_path", base_name},
                                 {"r", r}, {"lora_alpha", 16}, {"bias", "none"}, {"use_rslora", false},
                                 {"target_modules", "all-linear"}};
  testing::write_file(adapter / "adapter_config.json", config.dump(2));
  fs::create_directories(merged);
  for (const char* f : {"config.json", "tokenizer.json"}) fs::copy_file(base / f, merged / f, fs::copy_options::overwrite_existing);
  testing::write_raw_tensors(merged / "model.safetensors", tensors);
}

nlohmann::json generate_json(const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"generate", "--base", testing::fixture_model("llama-tiny"), "--greedy",
                                   "--max-new-tokens", "16", "--ignore-eos", "--prompt", "The weather today", "--json",
                                   "--beta", "0.5"};
  args.insert(args.end(), extra.begin(), extra.end());
  const testing::CliRun r = testing::run_cli(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json();
}

}  // namespace genarm::cli_lora_test_helpers

namespace genarm {
namespace {

using namespace cli_lora_test_helpers;

TEST(CliLora, AnAdapterArmDecodesAsItsMergedModel) {
  testing::TempDir tmp("cli_lora");
  write_adapter_and_merged(tmp / "adapter", tmp / "merged", "meta-llama/Llama-2-7b-hf");
  const auto merged = generate_json({"--arm", (tmp / "merged").string()});
  const auto adapter = generate_json({"--arm", (tmp / "adapter").string()});  // its base: --base
  ASSERT_TRUE(merged.contains("ids"));
  EXPECT_EQ(adapter["ids"], merged["ids"]);
  const auto named = generate_json({"--arm", (tmp / "adapter").string(), "--arm-base", testing::fixture_model("llama-tiny")});
  EXPECT_EQ(named["ids"], merged["ids"]);
  const auto alone = generate_json({});
  EXPECT_NE(alone["ids"], merged["ids"]);  // the ARM steers this prompt

  // The batch engine (base and adapter rows in one pass) gives the same tokens.
  testing::write_file(tmp / "prompts.jsonl", R"({"id": 1, "prompt": "The weather today"})" "\n"
                                             R"({"id": 2, "prompt": "Once upon a time"})" "\n");
  for (const auto& arm : {tmp / "adapter", tmp / "merged"}) {
    const fs::path out = tmp / (arm.filename().string() + ".jsonl");
    const testing::CliRun r = testing::run_cli({"generate", "--base", testing::fixture_model("llama-tiny"), "--arm",
                                                arm.string(), "--greedy", "--max-new-tokens", "16", "--ignore-eos",
                                                "--beta", "0.5", "--input", (tmp / "prompts.jsonl").string(),
                                                "--output", out.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  const std::string a = testing::read_file(tmp / "adapter.jsonl"), m = testing::read_file(tmp / "merged.jsonl");
  const auto first = [](const std::string& text) { return nlohmann::json::parse(text.substr(0, text.find('\n'))); };
  EXPECT_EQ(first(a)["ids"], first(m)["ids"]);
  EXPECT_EQ(first(a)["ids"], merged["ids"]);
}

TEST(CliLora, AdapterBasesAreFoundOrNamed) {
  testing::TempDir tmp("cli_lora_base");
  // Its own base_model_name_or_path, a local folder, is used when --arm-base is not given.
  write_adapter_and_merged(tmp / "local", tmp / "merged", testing::fixture_model("llama-tiny"));
  const auto merged = generate_json({"--arm", (tmp / "merged").string()});
  EXPECT_EQ(generate_json({"--arm", (tmp / "local").string()})["ids"], merged["ids"]);

  // --arm-base for an ARM that is no adapter, or more --arm-base than --arm, is refused.
  testing::CliRun r = testing::run_cli({"generate", "--base", testing::fixture_model("llama-tiny"), "--arm",
                                        (tmp / "merged").string(), "--arm-base", testing::fixture_model("llama-tiny"),
                                        "--prompt", "Hi", "--max-new-tokens", "2"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not a LoRA adapter folder"), std::string::npos) << r.err;
  // Applied to a base of another architecture, the adapter names what it lacks there.
  r = testing::run_cli({"generate", "--base", testing::fixture_model("gpt2-tiny"), "--arm", (tmp / "local").string(),
                        "--arm-base", testing::fixture_model("gpt2-tiny"), "--prompt", "Hi", "--max-new-tokens", "2"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("adapter_config.json"), std::string::npos) << r.err;

  // An adapter as --base: applied to its own local base; without one, refused by name.
  const auto as_base = testing::run_cli({"generate", "--base", (tmp / "local").string(), "--greedy", "--max-new-tokens",
                                         "8", "--ignore-eos", "--prompt", "The weather today", "--json"});
  ASSERT_EQ(as_base.exit_code, 0) << as_base.err;
  const auto merged_alone = testing::run_cli({"generate", "--base", (tmp / "merged").string(), "--greedy",
                                              "--max-new-tokens", "8", "--ignore-eos", "--prompt", "The weather today",
                                              "--json"});
  EXPECT_EQ(nlohmann::json::parse(as_base.out)["ids"], nlohmann::json::parse(merged_alone.out)["ids"]);
  write_adapter_and_merged(tmp / "hub", tmp / "merged_hub", "meta-llama/Llama-2-7b-hf");
  r = testing::run_cli({"generate", "--base", (tmp / "hub").string(), "--prompt", "Hi", "--max-new-tokens", "2"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("'meta-llama/Llama-2-7b-hf' is not a local folder"), std::string::npos) << r.err;

  // inspect reads the adapter against --base with the loader.
  r = testing::run_cli({"inspect", (tmp / "local").string(), "--base", testing::fixture_model("llama-tiny"), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["adapter"]["r"], 8);
  EXPECT_EQ(j["adapter"]["target_modules"], "all-linear");
  EXPECT_EQ(j["as_arm"]["compatible"], true) << j.dump();
  bool noted = false;
  for (const auto& note : j["as_arm"]["notes"]) {
    noted |= note.get<std::string>().find("a LoRA adapter of this base: 14 modules, r 8") != std::string::npos;
  }
  EXPECT_TRUE(noted) << j["as_arm"].dump();
}

}  // namespace
}  // namespace genarm
