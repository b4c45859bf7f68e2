// genarm inspect on the fixture folders (safetensors, sharded safetensors, PyTorch .bin and sharded
// .bin, padded vocabularies, a reward model, a PEFT adapter, config-only folders) and on broken
// ones: what it reports, in text and JSON, and one line on stderr for what it cannot read.
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_support.hpp"
#include "genarm/io/safetensors.hpp"
#include "genarm/io/safetensors_writer.hpp"

namespace genarm {
namespace {

namespace fs = std::filesystem;
using testing::CliRun;
using testing::fixture_model;
using testing::fixtures_dir;
using testing::hf_dir;
using testing::read_file;
using testing::run_cli;
using testing::TempDir;
using testing::write_file;

std::string padded_model(const std::string& name) { return (fixtures_dir() / "padded" / name).string(); }
std::string torch_model(const std::string& name) { return (fixtures_dir() / "torch" / "models" / name).string(); }

// The --json report of `args`, which must succeed with nothing on stderr.
nlohmann::json inspect_json(std::vector<std::string> args) {
  args.insert(args.begin(), "inspect");
  args.push_back("--json");
  const CliRun r = run_cli(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  try {
    return nlohmann::json::parse(r.out);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not JSON: " << r.out;
    return nlohmann::json::object();
  }
}

// A failure: exit code `code`, one line on stderr holding every fragment.
::testing::AssertionResult inspect_fails(const std::vector<std::string>& args, int code,
                                         const std::vector<std::string>& fragments) {
  std::vector<std::string> all{"inspect"};
  all.insert(all.end(), args.begin(), args.end());
  const CliRun r = run_cli(all);
  if (r.exit_code != code) return ::testing::AssertionFailure() << "exit " << r.exit_code << ", stderr: " << r.err;
  if (std::count(r.err.begin(), r.err.end(), '\n') != 1) return ::testing::AssertionFailure() << "stderr: " << r.err;
  for (const auto& f : fragments) {
    if (r.err.find(f) == std::string::npos) return ::testing::AssertionFailure() << "stderr lacks '" << f << "': " << r.err;
  }
  return ::testing::AssertionSuccess();
}

// A copy of a fixture folder, to break or extend.
fs::path copy_folder(const TempDir& tmp, const fs::path& from, const std::string& name) {
  const fs::path to = tmp.path() / name;
  fs::create_directories(to);
  for (const auto& f : fs::directory_iterator(from)) fs::copy_file(f.path(), to / f.path().filename());
  return to;
}

TEST(CliInspect, ASafetensorsModelInTextAndJson) {
  const CliRun text = run_cli({"inspect", fixture_model("llama-tiny")});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  for (const char* fragment : {"format          safetensors (model.safetensors)",
                               "architecture    LlamaForCausalLM (llama), causal LM",
                               "dtypes          F32 (21 tensors); config.json says float32",
                               "222.0 K parameters (222016), 888.1 kB in 1 file",
                               "hidden 64, layers 2, heads 4, KV heads 2, head dim 16, intermediate 172, context 256",
                               "1024 logit rows, tokenizer 1024 ids (1024 in the BPE vocabulary, 3 added tokens)",
                               "chat template   none", "special ids     bos 1 '<s>'; eos 2 '</s>'"}) {
    EXPECT_NE(text.out.find(fragment), std::string::npos) << "lacks '" << fragment << "':\n" << text.out;
  }
  EXPECT_EQ(text.out.find("as an ARM"), std::string::npos);

  const auto j = inspect_json({fixture_model("llama-tiny")});
  EXPECT_EQ(j["format"], "safetensors");
  EXPECT_EQ(j["weights_file"], "model.safetensors");
  EXPECT_EQ(j["architecture"], "LlamaForCausalLM");
  EXPECT_EQ(j["head"], "causal_lm");
  EXPECT_EQ(j["supported"], true);
  EXPECT_EQ(j["num_key_value_heads"], 2);
  EXPECT_EQ(j["max_position_embeddings"], 256);
  EXPECT_EQ(j["weights"]["tensors"], 21);
  EXPECT_EQ(j["weights"]["dtypes"], nlohmann::json({{"F32", 21}}));
  EXPECT_EQ(j["weights"]["parameters"], 222016);
  EXPECT_EQ(j["weights"]["parameter_bytes"], 4 * 222016);
  EXPECT_EQ(j["vocabulary"]["vocab_size"], 1024);
  EXPECT_EQ(j["vocabulary"]["embedding_rows"], 1024);
  EXPECT_EQ(j["vocabulary"]["lm_head_rows"], 1024);
  EXPECT_EQ(j["vocabulary"]["tokenizer_size"], 1024);
  EXPECT_EQ(j["vocabulary"]["added_tokens"], 3);
  EXPECT_TRUE(j["vocabulary"]["added_beyond_model_vocabulary"].empty());
  EXPECT_EQ(j["chat_template"]["present"], false);
  EXPECT_EQ(j["special_ids"]["eos"], nlohmann::json::parse(R"([{"id": 2, "token": "</s>"}])"));
}

TEST(CliInspect, APaddedArmCanGuideTheUnpaddedBase) {
  const auto j = inspect_json({padded_model("llama-tiny-arm-padded"), "--base", fixture_model("llama-tiny")});
  EXPECT_EQ(j["vocabulary"]["vocab_size"], 1025);
  EXPECT_EQ(j["vocabulary"]["embedding_rows"], 1025);
  EXPECT_EQ(j["vocabulary"]["lm_head_rows"], 1025);
  EXPECT_EQ(j["vocabulary"]["tokenizer_size"], 1025);
  EXPECT_EQ(j["vocabulary"]["tokenizer_model_size"], 1024);
  EXPECT_EQ(j["vocabulary"]["added_beyond_model_vocabulary"],
            nlohmann::json::parse(R"([{"id": 1024, "content": "[PAD]", "added": true, "special": true}])"));
  EXPECT_EQ(j["weights"]["parameters"], 153840 + 2 * 48);  // the ARM's, plus one embedding and one lm_head row
  EXPECT_EQ(j["special_ids"]["pad"], nlohmann::json::parse(R"({"id": 1024, "token": "[PAD]"})"));
  EXPECT_EQ(j["vocabulary"]["added_tokens_json"], nlohmann::json({{"[PAD]", 1024}}));
  EXPECT_FALSE(j["vocabulary"].contains("added_tokens_json_not_in_tokenizer"));
  EXPECT_EQ(j["as_arm"]["compatible"], true);
  EXPECT_TRUE(j["as_arm"]["problems"].empty());
  EXPECT_EQ(j["as_arm"]["notes"],
            nlohmann::json::array({"1 extra token: 1024 '[PAD]' (special) beyond the base vocabulary of 1024 tokens, "
                                   "cut away when decoding"}));

  const CliRun text = run_cli({"inspect", padded_model("llama-tiny-arm-padded"), "--base", fixture_model("llama-tiny")});
  EXPECT_NE(text.out.find("added beyond the BPE vocabulary: 1024 '[PAD]' (special)"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("as an ARM       yes, it can guide " + fixture_model("llama-tiny")), std::string::npos)
      << text.out;
}

TEST(CliInspect, SaysWhyAFolderCannotGuideABase) {
  // Smaller than the base.
  auto j = inspect_json({fixture_model("llama-tiny-arm"), "--base", padded_model("llama-tiny-arm-padded")});
  EXPECT_EQ(j["as_arm"]["compatible"], false);
  EXPECT_EQ(j["as_arm"]["problems"],
            nlohmann::json::array({"its tokenizer differs from the base's: its vocabulary is smaller: 1024 token ids in "
                                   "this model and 1025 in the base",
                                   "and it has 1024 logit rows for the base tokenizer's 1025 tokens"}));
  // A tokenizer that differs at one id (a folder without weights: config and tokenizer only).
  j = inspect_json({padded_model("llama-tiny-arm-differs"), "--base", fixture_model("llama-tiny")});
  EXPECT_EQ(j["weights_file"], nullptr);
  EXPECT_EQ(j["format"], "no weights (looked for model.safetensors, model.safetensors.index.json, pytorch_model.bin, "
                         "pytorch_model.bin.index.json)");
  EXPECT_FALSE(j.contains("weights"));
  EXPECT_EQ(j["vocabulary"]["vocab_size"], 1024);
  EXPECT_EQ(j["as_arm"]["problems"],
            nlohmann::json::array({"its tokenizer differs from the base's: at id 340, 'z' in the base and 'z\u02bc' in "
                                   "this model"}));
  // Another tokenizer family, with a shorter context.
  j = inspect_json({fixture_model("gpt2-tiny"), "--base", fixture_model("llama-tiny")});
  EXPECT_EQ(j["as_arm"]["problems"],
            nlohmann::json::array({"its tokenizer differs from the base's: at id 0, '<unk>' in the base and '!' in this "
                                   "model"}));
  EXPECT_EQ(j["as_arm"]["notes"],
            nlohmann::json::array({"its context (128 tokens) is shorter than the base's (256): guided generation stops "
                                   "there"}));
  // A reward model is not an ARM; nor is anything a base that is a reward model.
  j = inspect_json({fixture_model("llama-rm-tiny"), "--base", fixture_model("llama-tiny")});
  EXPECT_EQ(j["head"], "sequence_classification");
  ASSERT_EQ(j["as_arm"]["problems"].size(), 1u);
  EXPECT_NE(j["as_arm"]["problems"][0].get<std::string>().find("LlamaForSequenceClassification (a trajectory reward "
                                                               "model) scores whole sequences"),
            std::string::npos);
  j = inspect_json({fixture_model("llama-tiny-arm"), "--base", fixture_model("llama-rm-tiny")});
  EXPECT_EQ(j["as_arm"]["compatible"], false);
  EXPECT_NE(j["as_arm"]["problems"][0].get<std::string>().find("the base must be a causal LM"), std::string::npos);
  // The text form lists the reasons.
  const CliRun text = run_cli({"inspect", padded_model("llama-tiny-arm-differs"), "--base", fixture_model("llama-tiny")});
  EXPECT_EQ(text.exit_code, 0);
  EXPECT_NE(text.out.find("as an ARM       no, it cannot guide " + fixture_model("llama-tiny") + ":\n"), std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("- its tokenizer differs from the base's: at id 340"), std::string::npos) << text.out;
}

TEST(CliInspect, PyTorchCheckpointsSingleAndSharded) {
  // Sharded .bin: the same parameters as its safetensors twin.
  auto j = inspect_json({torch_model("llama-tiny-arm")});
  EXPECT_EQ(j["format"], "sharded PyTorch .bin");
  EXPECT_EQ(j["weights_file"], "pytorch_model.bin.index.json");
  EXPECT_EQ(j["weights"]["files"],
            nlohmann::json::array({"pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"}));
  EXPECT_EQ(j["weights"]["parameters"], inspect_json({fixture_model("llama-tiny-arm")})["weights"]["parameters"]);
  EXPECT_EQ(j["vocabulary"]["tokenizer_size"], nullptr);  // the torch fixtures carry no tokenizer
  // GPT-2 .bin: lm_head.weight is a second view of wte's storage (counted once), plus buffers.
  j = inspect_json({torch_model("gpt2-tiny")});
  EXPECT_EQ(j["format"], "PyTorch .bin");
  EXPECT_EQ(j["weights"]["shared_tensors"], 1);
  EXPECT_EQ(j["weights"]["buffers"], 4);
  EXPECT_EQ(j["weights"]["parameters"], inspect_json({fixture_model("gpt2-tiny")})["weights"]["parameters"]);
  EXPECT_EQ(j["vocabulary"]["lm_head_rows"], 1024);
  j = inspect_json({torch_model("llama-tiny-bf16")});
  EXPECT_EQ(j["weights"]["dtypes"], nlohmann::json({{"BF16", 21}}));
  EXPECT_EQ(j["weights"]["parameter_bytes"], 2 * j["weights"]["parameters"].get<int64_t>());
}

TEST(CliInspect, ShardedSafetensorsAndIgnoredWeightFiles) {
  TempDir tmp("inspect");
  const fs::path dir = tmp.path() / "sharded";
  fs::create_directories(dir);
  fs::copy_file(hf_dir() / "models" / "llama-tiny-arm" / "config.json", dir / "config.json");
  fs::copy_file(hf_dir() / "models" / "llama-tiny-arm" / "tokenizer.json", dir / "tokenizer.json");
  const auto file = io::SafetensorsFile::open(hf_dir() / "models" / "llama-tiny-arm" / "model.safetensors");
  io::SafetensorsWriter shards[2];
  nlohmann::json index{{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
  size_t i = 0;
  for (const auto& t : file.tensors()) {
    std::vector<float> values(static_cast<size_t>(t.numel()));
    std::memcpy(values.data(), t.bytes.data(), t.bytes.size());
    const size_t shard = i++ % 2;
    shards[shard].add(t.name, t.shape, values);
    index["weight_map"][t.name] = "model-0000" + std::to_string(shard + 1) + "-of-00002.safetensors";
  }
  shards[0].write(dir / "model-00001-of-00002.safetensors");
  shards[1].write(dir / "model-00002-of-00002.safetensors");
  write_file(dir / "model.safetensors.index.json", index.dump());
  // A .bin twin next to it is not read (safetensors first, as transformers).
  fs::copy_file(fs::path(torch_model("llama-tiny-arm")) / "pytorch_model.bin.index.json",
                dir / "pytorch_model.bin.index.json");
  const auto j = inspect_json({dir.string()});
  EXPECT_EQ(j["format"], "sharded safetensors");
  EXPECT_EQ(j["weights_file"], "model.safetensors.index.json");
  EXPECT_EQ(j["ignored_weight_files"], nlohmann::json::array({"pytorch_model.bin.index.json"}));
  EXPECT_EQ(j["weights"]["files"].size(), 2u);
  EXPECT_EQ(j["weights"]["parameters"], 153840);
  const CliRun text = run_cli({"inspect", dir.string()});
  EXPECT_NE(text.out.find("also present    pytorch_model.bin.index.json (not read: model.safetensors.index.json is "
                          "preferred)"),
            std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("in 2 files"), std::string::npos) << text.out;
}

TEST(CliInspect, APeftAdapterFolder) {
  TempDir tmp("inspect");
  const fs::path dir = tmp.path() / "adapter";
  fs::create_directories(dir);
  write_file(dir / "adapter_config.json", R"({
    "alpha_pattern": {"model.layers.1.self_attn.q_proj": 32}, "auto_mapping": null,
    "base_model_name_or_path": "meta-llama/Llama-2-7b-hf", "bias": "none", "fan_in_fan_out": false,
    "inference_mode": true, "init_lora_weights": true, "layers_to_transform": null, "lora_alpha": 16,
    "lora_dropout": 0.05, "modules_to_save": ["embed_tokens", "lm_head"], "peft_type": "LORA", "r": 8,
    "rank_pattern": {"model.layers.1.self_attn.q_proj": 4}, "revision": null,
    "target_modules": ["q_proj", "v_proj"], "task_type": "CAUSAL_LM", "use_dora": false, "use_rslora": true})");
  io::SafetensorsWriter w;
  for (int layer = 0; layer < 2; ++layer) {
    for (const char* proj : {"q_proj", "v_proj"}) {
      const std::string p = "base_model.model.model.layers." + std::to_string(layer) + ".self_attn." + proj;
      w.add(p + ".lora_A.weight", {8, 48}, std::vector<float>(8 * 48, 0.01f), DType::kBF16);
      w.add(p + ".lora_B.weight", {48, 8}, std::vector<float>(48 * 8, 0.0f), DType::kBF16);
    }
  }
  // modules_to_save: the resized embedding and head of a fine-tune that added [PAD].
  w.add("base_model.model.model.embed_tokens.modules_to_save.default.weight", {1025, 48},
        std::vector<float>(1025 * 48, 0.5f), DType::kBF16);
  w.add("base_model.model.lm_head.modules_to_save.default.weight", {1025, 48}, std::vector<float>(1025 * 48, 0.5f),
        DType::kBF16);
  w.write(dir / "adapter_model.safetensors");
  fs::copy_file(fs::path(padded_model("llama-tiny-arm-padded")) / "tokenizer.json", dir / "tokenizer.json");

  const auto j = inspect_json({dir.string(), "--base", fixture_model("llama-tiny")});
  EXPECT_EQ(j["format"], "PEFT adapter, safetensors");
  EXPECT_EQ(j["weights_file"], "adapter_model.safetensors");
  const auto& a = j["adapter"];
  EXPECT_EQ(a["peft_type"], "LORA");
  EXPECT_EQ(a["task_type"], "CAUSAL_LM");
  EXPECT_EQ(a["r"], 8);
  EXPECT_EQ(a["lora_alpha"], 16.0);
  EXPECT_EQ(a["use_rslora"], true);
  EXPECT_EQ(a["use_dora"], false);
  EXPECT_EQ(a["fan_in_fan_out"], false);
  EXPECT_EQ(a["bias"], "none");
  EXPECT_EQ(a["base_model_name_or_path"], "meta-llama/Llama-2-7b-hf");
  EXPECT_EQ(a["target_modules"], nlohmann::json::array({"q_proj", "v_proj"}));
  EXPECT_EQ(a["modules_to_save"], nlohmann::json::array({"embed_tokens", "lm_head"}));
  EXPECT_EQ(a["rank_pattern"], nlohmann::json({{"model.layers.1.self_attn.q_proj", 4}}));
  EXPECT_EQ(a["alpha_pattern"], nlohmann::json({{"model.layers.1.self_attn.q_proj", 32.0}}));
  EXPECT_EQ(j["weights"]["tensors"], 10);
  EXPECT_EQ(j["weights"]["dtypes"], nlohmann::json({{"BF16", 10}}));
  EXPECT_EQ(j["weights"]["vocabulary_rows"],
            nlohmann::json({{"base_model.model.lm_head.modules_to_save.default.weight", 1025},
                            {"base_model.model.model.embed_tokens.modules_to_save.default.weight", 1025}}));
  EXPECT_EQ(j["vocabulary"]["tokenizer_size"], 1025);
  // Read with the LoRA loader against the base: modules_to_save (whole saved modules) is refused.
  EXPECT_EQ(j["as_arm"]["compatible"], false);
  ASSERT_EQ(j["as_arm"]["problems"].size(), 1u);
  EXPECT_NE(j["as_arm"]["problems"][0].get<std::string>().find("the adapter cannot be applied to this base"),
            std::string::npos);
  EXPECT_NE(j["as_arm"]["problems"][0].get<std::string>().find("modules_to_save"), std::string::npos);
  EXPECT_EQ(j["as_arm"]["notes"].size(), 1u);

  const CliRun text = run_cli({"inspect", dir.string()});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  for (const char* fragment : {"format          PEFT adapter, safetensors (adapter_model.safetensors)",
                               "adapter         peft_type: LORA\n", "                r: 8\n",
                               "                lora_alpha: 16\n",
                               "                target_modules: [\"q_proj\",\"v_proj\"]\n",
                               "adapter weights 10 tensors", "saved base_model.model.lm_head.modules_to_save.default.weight: 1025 rows"}) {
    EXPECT_NE(text.out.find(fragment), std::string::npos) << "lacks '" << fragment << "':\n" << text.out;
  }

  // A malformed adapter_config.json names the file and the key.
  write_file(dir / "adapter_config.json", R"({"peft_type": "LORA", "r": "eight"})");
  EXPECT_TRUE(inspect_fails({dir.string()}, 1, {"adapter_config.json", "r", "expected"}));
  // An adapter without weights is still shown.
  fs::remove(dir / "adapter_model.safetensors");
  write_file(dir / "adapter_config.json", R"({"peft_type": "LORA", "r": 16, "lora_alpha": 32})");
  const auto bare = inspect_json({dir.string()});
  EXPECT_EQ(bare["format"], "PEFT adapter, no weights (looked for adapter_model.safetensors, adapter_model.bin)");
  EXPECT_EQ(bare["adapter"]["r"], 16);
}

TEST(CliInspect, AddedTokensJsonThatTokenizerJsonLacks) {
  // A padded ARM whose tokenizer.json was copied from the base: the [PAD] is only in
  // added_tokens.json (and in the 1025 rows).
  TempDir tmp("inspect");
  const fs::path dir = copy_folder(tmp, padded_model("llama-tiny-arm-padded"), "pad-in-json-only");
  fs::copy_file(hf_dir() / "models" / "llama-tiny-arm" / "tokenizer.json", dir / "tokenizer.json",
                fs::copy_options::overwrite_existing);
  const auto j = inspect_json({dir.string(), "--base", fixture_model("llama-tiny")});
  EXPECT_EQ(j["vocabulary"]["added_tokens_json_not_in_tokenizer"],
            nlohmann::json::parse(R"([{"id": 1024, "content": "[PAD]"}])"));
  EXPECT_EQ(j["vocabulary"]["padding_rows"], 1);
  EXPECT_EQ(j["as_arm"]["compatible"], true);  // 1025 rows, the base's 1024 tokens
  const CliRun text = run_cli({"inspect", dir.string()});
  EXPECT_NE(text.out.find("added_tokens.json lists '[PAD]' at 1024, not in tokenizer.json"), std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("1 logit row beyond the tokenizer (cut when decoding)"), std::string::npos) << text.out;
}

TEST(CliInspect, ChatTemplatesAndUnsupportedArchitectures) {
  TempDir tmp("inspect");
  const fs::path dir = copy_folder(tmp, hf_dir() / "models" / "llama-tiny-arm", "chat");
  write_file(dir / "tokenizer_config.json",
             R"({"chat_template": "{% for m in messages %}{{ m['content'] }}{% endfor %}", "eos_token": "</s>"})");
  auto j = inspect_json({dir.string()});
  EXPECT_EQ(j["chat_template"]["present"], true);
  EXPECT_EQ(j["chat_template"]["sources"], nlohmann::json::array({"tokenizer_config.json"}));
  EXPECT_EQ(j["chat_template"]["names"], nlohmann::json::array({"default"}));
  EXPECT_EQ(j["chat_template"]["parses"], true);
  write_file(dir / "chat_template.jinja", "{% if messages %}");
  j = inspect_json({dir.string()});
  EXPECT_EQ(j["chat_template"]["sources"], nlohmann::json::array({"chat_template.jinja", "tokenizer_config.json"}));
  EXPECT_EQ(j["chat_template"]["parses"], false);
  EXPECT_NE(j["chat_template"]["error"].get<std::string>().find("chat_template.jinja"), std::string::npos);

  // An architecture genarm does not run: shown, with the reason, and not an ARM.
  nlohmann::json config = testing::load_json(dir / "config.json");
  config["architectures"] = {"GemmaForCausalLM"};
  config["model_type"] = "gemma";
  write_file(dir / "config.json", config.dump());
  j = inspect_json({dir.string(), "--base", fixture_model("llama-tiny")});
  EXPECT_EQ(j["architecture"], "GemmaForCausalLM");
  EXPECT_EQ(j["supported"], false);
  EXPECT_NE(j["unsupported_reason"].get<std::string>().find("is not supported"), std::string::npos);
  EXPECT_EQ(j["hidden_size"], 48);
  EXPECT_EQ(j["weights"]["parameters"], 153840);
  EXPECT_EQ(j["as_arm"]["compatible"], false);
  EXPECT_NE(j["as_arm"]["problems"][0].get<std::string>().find("not a model genarm runs"), std::string::npos);
}

TEST(CliInspect, BrokenFoldersAndUsage) {
  TempDir tmp("inspect");
  const fs::path empty = tmp.path() / "empty";
  fs::create_directories(empty);
  EXPECT_TRUE(inspect_fails({empty.string()}, 1, {"not a Hugging Face model folder", "config.json", "adapter_config.json"}));
  EXPECT_TRUE(inspect_fails({"/no/such/folder"}, 1, {"/no/such/folder"}));
  EXPECT_TRUE(inspect_fails({fixture_model("llama-tiny"), "--base", "/no/such/base"}, 1, {"/no/such/base"}));
  // No tokenizer in the base: nothing to compare with.
  EXPECT_TRUE(inspect_fails({fixture_model("llama-tiny"), "--base", torch_model("llama-tiny")}, 1, {"tokenizer.json"}));

  const fs::path garbled = copy_folder(tmp, hf_dir() / "models" / "llama-tiny", "garbled-config");
  write_file(garbled / "config.json", "{\"architectures\": [");
  EXPECT_TRUE(inspect_fails({garbled.string()}, 1, {"config.json"}));

  const fs::path truncated = copy_folder(tmp, hf_dir() / "models" / "llama-tiny", "truncated");
  const std::string weights = read_file(truncated / "model.safetensors");
  write_file(truncated / "model.safetensors", weights.substr(0, weights.size() / 2));
  EXPECT_TRUE(inspect_fails({truncated.string()}, 1, {"model.safetensors"}));

  const fs::path bad_tokenizer = copy_folder(tmp, hf_dir() / "models" / "llama-tiny", "bad-tokenizer");
  write_file(bad_tokenizer / "tokenizer.json", R"({"model": {"type": "Unigram", "vocab": []}})");
  EXPECT_TRUE(inspect_fails({bad_tokenizer.string()}, 1, {"tokenizer.json", "Unigram"}));

  const fs::path bad_index = copy_folder(tmp, hf_dir() / "models" / "llama-tiny", "bad-index");
  fs::remove(bad_index / "model.safetensors");
  write_file(bad_index / "model.safetensors.index.json", R"({"weight_map": {"lm_head.weight": "../escape.safetensors"}})");
  EXPECT_TRUE(inspect_fails({bad_index.string()}, 1, {"model.safetensors.index.json", "inside the model folder"}));

  EXPECT_TRUE(inspect_fails({}, 2, {"give a model folder"}));
  EXPECT_TRUE(inspect_fails({fixture_model("llama-tiny"), fixture_model("llama-tiny-arm")}, 2, {"one model folder"}));
  EXPECT_TRUE(inspect_fails({fixture_model("llama-tiny"), "--frobnicate"}, 2, {"unknown option '--frobnicate'"}));
  EXPECT_TRUE(inspect_fails({fixture_model("llama-tiny"), "--base"}, 2, {"--base"}));

  const CliRun help = run_cli({"inspect", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("usage: genarm inspect DIR [--base DIR] [--json]"), std::string::npos);
  const CliRun list = run_cli({"--help"});
  EXPECT_NE(list.out.find("inspect"), std::string::npos);
}

}  // namespace
}  // namespace genarm
