// LoRA adapters in PEFT's layout (random A and B), applied unmerged by the Transformer, against
// the merged model W + s B A computed here independently (plain loops in double, saved as a full
// checkpoint and read by the ordinary loader): Llama's seven projections, GPT-2's Conv1D modules
// with fan_in_fan_out, rslora, rank and alpha patterns, a regex target_modules, ".default" names,
// .bin adapter weights; batch invariance of adapter rows among base rows; each refused setting
// named.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "../io/torch_test_helpers.hpp"
#include "genarm/io/safetensors_writer.hpp"
#include "genarm/model/lora_adapter.hpp"
#include "genarm/model/synthetic.hpp"
#include "genarm/model/transformer.hpp"
#include "model_test_helpers.hpp"
#include "test_support.hpp"

namespace genarm::lora_adapter_test_helpers {

namespace fs = std::filesystem;
using model::Transformer;
using testing::TempDir;

// One adapted module: its factors as written, and the scale the merge uses.
struct Factors {
  int64_t r = 0, in = 0, out = 0;
  std::vector<float> a;  // (r, in)
  std::vector<float> b;  // (out, r)
  double scale = 0.0;
};
using Adapted = std::map<std::string, Factors>;  // module name ("model.layers.0.self_attn.q_proj") -> factors

// nn.Linear (in, out) of a module of the tiny models below.
struct Dims {
  int64_t in, out;
};
Dims llama_dims(const io::ModelConfig& c, const std::string& module) {
  const int64_t h = c.hidden_size, qd = c.q_dim(), kv = c.kv_dim(), in = c.intermediate_size;
  const auto ends = [&](const char* s) { return module.size() >= std::strlen(s) && module.ends_with(s); };
  if (ends("q_proj")) return {h, qd};
  if (ends("k_proj") || ends("v_proj")) return {h, kv};
  if (ends("o_proj")) return {qd, h};
  if (ends("gate_proj") || ends("up_proj")) return {h, in};
  if (ends("down_proj")) return {in, h};
  if (ends("c_attn")) return {h, qd + 2 * kv};
  if (ends("attn.c_proj")) return {qd, h};
  if (ends("c_fc")) return {h, in};
  if (ends("mlp.c_proj")) return {in, h};
  throw std::runtime_error("no such module " + module);
}

// Random factors for `module` with rank r and scale s (values large enough to move the logits).
Factors random_factors(const io::ModelConfig& c, const std::string& module, int64_t r, double scale, uint64_t seed) {
  const Dims d = llama_dims(c, module);
  model::detail::WeightNoise noise(seed);
  Factors f;
  f.r = r;
  f.in = d.in;
  f.out = d.out;
  f.scale = scale;
  f.a.resize(static_cast<size_t>(r * d.in));
  f.b.resize(static_cast<size_t>(d.out * r));
  for (auto& v : f.a) v = noise.uniform(1.0f / std::sqrt(static_cast<float>(d.in)));
  for (auto& v : f.b) v = noise.uniform(0.5f / std::sqrt(static_cast<float>(r)));
  return f;
}

struct WriteOptions {
  std::string prefix = "base_model.model.";
  std::string adapter_name;  // "" or ".default"
  bool bin = false;          // adapter_model.bin (torch.save zip) instead of safetensors
  DType dtype = DType::kF32;
};
WriteOptions named(std::string prefix, std::string adapter_name) {
  WriteOptions o;
  o.prefix = std::move(prefix);
  o.adapter_name = std::move(adapter_name);
  return o;
}
WriteOptions stored(bool bin, DType dtype) {
  WriteOptions o;
  o.bin = bin;
  o.dtype = dtype;
  return o;
}

void write_adapter(const fs::path& dir, const nlohmann::json& config, const Adapted& adapted,
                   const WriteOptions& options = {}) {
  fs::create_directories(dir);
  std::ofstream(dir / "adapter_config.json") << config.dump(2);
  if (!options.bin) {
    io::SafetensorsWriter w;
    for (const auto& [module, f] : adapted) {
      const std::string p = options.prefix + module;
      w.add(p + ".lora_A" + options.adapter_name + ".weight", {f.r, f.in}, f.a, options.dtype);
      w.add(p + ".lora_B" + options.adapter_name + ".weight", {f.out, f.r}, f.b, options.dtype);
    }
    w.write(dir / "adapter_model.safetensors");
    return;
  }
  std::vector<std::pair<std::string, std::string>> items;
  std::map<std::string, std::string> storages;
  const auto add = [&](const std::string& name, int64_t rows, int64_t cols, const std::vector<float>& v) {
    const std::string key = std::to_string(storages.size());
    storages[key] = std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
    items.emplace_back(name, testing::pk_tensor(key, rows * cols, 0, {rows, cols}, {cols, 1}));
  };
  for (const auto& [module, f] : adapted) {
    add(options.prefix + module + ".lora_A" + options.adapter_name + ".weight", f.r, f.in, f.a);
    add(options.prefix + module + ".lora_B" + options.adapter_name + ".weight", f.out, f.r, f.b);
  }
  testing::write_file(dir / "adapter_model.bin", testing::torch_archive(testing::pk_dict(items), storages));
}

// The merged checkpoint: W + s B A for every adapted module (GPT-2 Conv1D weights, stored (in, out),
// get the transpose), computed in double and written as a full F32 model beside config.json.
void write_merged(const fs::path& base_dir, const fs::path& out_dir, const Adapted& adapted) {
  fs::create_directories(out_dir);
  fs::copy_file(base_dir / "config.json", out_dir / "config.json", fs::copy_options::overwrite_existing);
  if (fs::exists(base_dir / "tokenizer.json")) {
    fs::copy_file(base_dir / "tokenizer.json", out_dir / "tokenizer.json", fs::copy_options::overwrite_existing);
  }
  testing::RawTensors tensors = testing::read_raw_tensors(base_dir / "model.safetensors");
  for (const auto& [module, f] : adapted) {
    testing::RawTensor& t = tensors.at(module + ".weight");
    if (t.dtype != "F32") throw std::runtime_error("merge expects F32 base weights");
    const bool conv1d = module.find("transformer.") == 0;
    auto* w = reinterpret_cast<float*>(t.bytes.data());
    for (int64_t o = 0; o < f.out; ++o) {
      for (int64_t i = 0; i < f.in; ++i) {
        double delta = 0.0;
        for (int64_t k = 0; k < f.r; ++k) {
          delta += static_cast<double>(f.b[static_cast<size_t>(o * f.r + k)]) * f.a[static_cast<size_t>(k * f.in + i)];
        }
        float& cell = conv1d ? w[i * f.out + o] : w[o * f.in + i];
        cell = static_cast<float>(static_cast<double>(cell) + f.scale * delta);
      }
    }
  }
  testing::write_raw_tensors(out_dir / "model.safetensors", tensors);
}

nlohmann::json lora_config(const nlohmann::json& targets, int64_t r, double alpha, const fs::path& base = {}) {
  nlohmann::json j = {{"peft_type", "LORA"}, {"task_type", "CAUSAL_LM"},       {"r", r},
                      {"lora_alpha", alpha}, {"lora_dropout", 0.05},           {"bias", "none"},
                      {"use_rslora", false}, {"use_dora", false},              {"fan_in_fan_out", false},
                      {"target_modules", targets}, {"modules_to_save", nullptr}, {"rank_pattern", nlohmann::json::object()},
                      {"alpha_pattern", nlohmann::json::object()}, {"inference_mode", true}};
  j["base_model_name_or_path"] = base.empty() ? nlohmann::json("meta-llama/Llama-2-7b-hf") : nlohmann::json(base.string());
  return j;
}

nlohmann::json tiny_llama() { return testing::llama_config(96, 32, 2, 4, 2, 48, 64); }
nlohmann::json tiny_gpt2() { return testing::gpt2_config(96, 32, 2, 4, 64); }

std::vector<std::string> llama_modules(int64_t layers, const std::vector<std::string>& leaves) {
  std::vector<std::string> out;
  for (int64_t l = 0; l < layers; ++l) {
    for (const auto& leaf : leaves) {
      const bool attn = leaf == "q_proj" || leaf == "k_proj" || leaf == "v_proj" || leaf == "o_proj";
      out.push_back("model.layers." + std::to_string(l) + (attn ? ".self_attn." : ".mlp.") + leaf);
    }
  }
  return out;
}

// Max relative error of the adapted model's logits at every position against the merged model's.
double max_logit_error(const Transformer& adapted, const Transformer& merged, size_t tokens = 12) {
  const auto ids = testing::token_ids(tokens, adapted.vocab_size(), 3);
  model::RowMatrix got, want;
  auto s1 = adapted.new_sequence();
  adapted.forward_all(s1, ids, got);
  auto s2 = merged.new_sequence();
  merged.forward_all(s2, ids, want);
  double worst = 0.0;
  for (Eigen::Index t = 0; t < want.rows(); ++t) {
    worst = std::max(worst, testing::relative_max_error(got.row(t), want.row(t)));
  }
  return worst;
}

// The base's logits moved by the adapter (a check that cannot pass with an ignored adapter).
double max_change(const Transformer& adapted, const Transformer& base) { return max_logit_error(adapted, base); }

constexpr double kTol = 1e-5;

// Expects fn to throw a genarm::Error of `category` whose message holds every fragment.
template <typename Fn>
void expect_error(Fn&& fn, ErrorCategory category, const std::vector<std::string>& fragments) {
  try {
    fn();
    ADD_FAILURE() << "expected a genarm::Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), category) << e.what();
    for (const auto& f : fragments) {
      EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << "message '" << e.what() << "' lacks '" << f << "'";
    }
  }
}

}  // namespace genarm::lora_adapter_test_helpers

namespace genarm {
namespace {

using namespace lora_adapter_test_helpers;

TEST(LoraAdapter, LlamaSevenProjectionsMatchTheMergedModel) {
  TempDir tmp("lora_llama");
  model::write_synthetic_model(tmp / "base", tiny_llama());
  const auto c = io::read_model_config(tmp / "base");
  Adapted adapted;
  uint64_t seed = 10;
  const std::vector<std::string> leaves = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  for (const auto& m : llama_modules(2, leaves)) adapted[m] = random_factors(c, m, 4, 16.0 / 4, seed++);
  write_adapter(tmp / "adapter", lora_config(leaves, 4, 16.0), adapted);
  write_merged(tmp / "base", tmp / "merged", adapted);

  const Transformer base = Transformer::load(tmp / "base");
  const Transformer lora = Transformer::load_adapter(tmp / "adapter", base);
  EXPECT_EQ(lora.shared_weights().get(), base.shared_weights().get());
  EXPECT_EQ(lora.name(), "adapter");
  ASSERT_NE(lora.adapter(), nullptr);
  EXPECT_EQ(lora.adapter()->modules().size(), 14u);
  EXPECT_EQ(lora.adapter()->factors(1, model::LoraTarget::kDown).rank(), 4);
  EXPECT_FLOAT_EQ(lora.adapter()->factors(1, model::LoraTarget::kDown).scale, 4.0f);
  EXPECT_EQ(lora.adapter()->parameters(), 2 * 4 * ((32 + 32) + 2 * (32 + 16) + (32 + 32) + 3 * (32 + 48)));
  const Transformer merged = Transformer::load(tmp / "merged");
  const double err = max_logit_error(lora, merged);
  EXPECT_LT(err, kTol) << err;
  EXPECT_GT(max_change(lora, base), 1e-2);
  // The base itself is untouched by the adapter sharing its weights.
  EXPECT_EQ(max_logit_error(base, Transformer::load(tmp / "base")), 0.0);
}

TEST(LoraAdapter, Gpt2Conv1dModulesWithFanInFanOutMatchTheMergedModel) {
  TempDir tmp("lora_gpt2");
  model::write_synthetic_model(tmp / "base", tiny_gpt2());
  const auto c = io::read_model_config(tmp / "base");
  Adapted adapted;
  uint64_t seed = 40;
  for (int l = 0; l < 2; ++l) {
    for (const char* m : {"attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"}) {
      const std::string name = "transformer.h." + std::to_string(l) + "." + m;
      adapted[name] = random_factors(c, name, 4, 8.0 / 4, seed++);
    }
  }
  auto config = lora_config({"c_attn", "c_proj", "c_fc"}, 4, 8.0);
  config["fan_in_fan_out"] = true;
  write_adapter(tmp / "adapter", config, adapted, named("base_model.model.", ".default"));
  write_merged(tmp / "base", tmp / "merged", adapted);
  const Transformer base = Transformer::load(tmp / "base");
  const Transformer lora = Transformer::load(tmp / "adapter", tmp / "base");
  EXPECT_EQ(lora.adapter()->modules().size(), 8u);
  const double err = max_logit_error(lora, Transformer::load(tmp / "merged"));
  EXPECT_LT(err, kTol) << err;
  EXPECT_GT(max_change(lora, base), 1e-2);
}

TEST(LoraAdapter, RsloraWithARegexTargetAndDefaultNames) {
  TempDir tmp("lora_rslora");
  model::write_synthetic_model(tmp / "base", tiny_llama());
  const auto c = io::read_model_config(tmp / "base");
  Adapted adapted;
  uint64_t seed = 70;
  // r = 4, alpha = 6: s = 6 / sqrt(4) = 3 (not 6 / 4).
  for (const auto& m : llama_modules(2, {"q_proj", "v_proj", "down_proj"})) adapted[m] = random_factors(c, m, 4, 3.0, seed++);
  auto config = lora_config(R"(.*\.(q_proj|v_proj|down_proj))", 4, 6.0);
  config["use_rslora"] = true;
  write_adapter(tmp / "adapter", config, adapted, named("", ".default"));
  write_merged(tmp / "base", tmp / "merged", adapted);
  const Transformer lora = Transformer::load(tmp / "adapter", tmp / "base");
  EXPECT_EQ(lora.adapter()->modules().size(), 6u);
  EXPECT_FLOAT_EQ(lora.adapter()->factors(0, model::LoraTarget::kQ).scale, 3.0f);
  EXPECT_TRUE(lora.adapter()->factors(0, model::LoraTarget::kK).empty());
  const double err = max_logit_error(lora, Transformer::load(tmp / "merged"));
  EXPECT_LT(err, kTol) << err;
}

TEST(LoraAdapter, RankAndAlphaPatternsFollowPeftKeyMatching) {
  TempDir tmp("lora_patterns");
  model::write_synthetic_model(tmp / "base", tiny_llama());
  const auto c = io::read_model_config(tmp / "base");
  // r 4, alpha 8 by default; q_proj of layer 1 has r 2 (a full name), every k_proj r 6 (a suffix),
  // o_proj of layer 0 alpha 3 (a regex); layer 1's up_proj is left out by exclude_modules.
  auto config = lora_config({"q_proj", "k_proj", "o_proj", "up_proj"}, 4, 8.0);
  config["rank_pattern"] = {{"model.layers.1.self_attn.q_proj", 2}, {"k_proj", 6}};
  config["alpha_pattern"] = {{R"(layers\.0\.self_attn\.o_proj)", 3.0}};
  config["exclude_modules"] = {"model.layers.1.mlp.up_proj"};
  Adapted adapted;
  uint64_t seed = 90;
  for (const auto& m : llama_modules(2, {"q_proj", "k_proj", "o_proj", "up_proj"})) {
    if (m == "model.layers.1.mlp.up_proj") continue;
    int64_t r = 4;
    double alpha = 8.0;
    if (m == "model.layers.1.self_attn.q_proj") r = 2;
    if (m.ends_with("k_proj")) r = 6;
    if (m == "model.layers.0.self_attn.o_proj") alpha = 3.0;
    adapted[m] = random_factors(c, m, r, alpha / static_cast<double>(r), seed++);
  }
  write_adapter(tmp / "adapter", config, adapted);
  write_merged(tmp / "base", tmp / "merged", adapted);
  const Transformer lora = Transformer::load(tmp / "adapter", tmp / "base");
  const auto& a = *lora.adapter();
  EXPECT_EQ(a.factors(1, model::LoraTarget::kQ).rank(), 2);
  EXPECT_EQ(a.factors(0, model::LoraTarget::kQ).rank(), 4);
  EXPECT_EQ(a.factors(0, model::LoraTarget::kK).rank(), 6);
  EXPECT_FLOAT_EQ(a.factors(0, model::LoraTarget::kO).scale, 0.75f);
  EXPECT_FLOAT_EQ(a.factors(1, model::LoraTarget::kO).scale, 2.0f);
  EXPECT_TRUE(a.factors(1, model::LoraTarget::kUp).empty());
  EXPECT_EQ(a.max_rank(), 6);
  const double err = max_logit_error(lora, Transformer::load(tmp / "merged"));
  EXPECT_LT(err, kTol) << err;

  // layers_to_transform with a list target keeps only the named layers (PEFT's layer index).
  config["layers_to_transform"] = {1};
  config["exclude_modules"] = nullptr;
  Adapted layer1;
  for (const auto& [m, f] : adapted) {
    if (m.find("layers.1.") != std::string::npos) layer1[m] = f;
  }
  layer1["model.layers.1.mlp.up_proj"] = random_factors(c, "model.layers.1.mlp.up_proj", 4, 2.0, 99);
  write_adapter(tmp / "adapter1", config, layer1);
  write_merged(tmp / "base", tmp / "merged1", layer1);
  const Transformer lora1 = Transformer::load(tmp / "adapter1", tmp / "base");
  EXPECT_EQ(lora1.adapter()->modules().size(), 4u);
  const double err1 = max_logit_error(lora1, Transformer::load(tmp / "merged1"));
  EXPECT_LT(err1, kTol) << err1;
}

TEST(LoraAdapter, BinAndHalfPrecisionAdapterWeights) {
  TempDir tmp("lora_bin");
  model::write_synthetic_model(tmp / "base", tiny_llama());
  const auto c = io::read_model_config(tmp / "base");
  Adapted adapted;
  uint64_t seed = 120;
  for (const auto& m : llama_modules(2, {"q_proj", "v_proj", "gate_proj"})) adapted[m] = random_factors(c, m, 8, 2.0, seed++);
  write_adapter(tmp / "bin", lora_config({"q_proj", "v_proj", "gate_proj"}, 8, 16.0), adapted, stored(true, DType::kF32));
  write_merged(tmp / "base", tmp / "merged", adapted);
  const Transformer base = Transformer::load(tmp / "base");
  const Transformer lora = Transformer::load_adapter(tmp / "bin", base);
  EXPECT_TRUE(lora.adapter()->origin().ends_with("adapter_model.bin"));
  const double err = max_logit_error(lora, Transformer::load(tmp / "merged"));
  EXPECT_LT(err, kTol) << err;

  // BF16 factors are read as stored (widened exactly): the merge of the rounded values matches.
  Adapted rounded = adapted;
  for (auto& [m, f] : rounded) {
    for (auto& v : f.a) v = bf16_to_float(float_to_bf16(v));
    for (auto& v : f.b) v = bf16_to_float(float_to_bf16(v));
  }
  write_adapter(tmp / "bf16", lora_config({"q_proj", "v_proj", "gate_proj"}, 8, 16.0), adapted,
                stored(false, DType::kBF16));
  write_merged(tmp / "base", tmp / "merged_bf16", rounded);
  const double err16 = max_logit_error(Transformer::load_adapter(tmp / "bf16", base), Transformer::load(tmp / "merged_bf16"));
  EXPECT_LT(err16, kTol) << err16;
}

TEST(LoraAdapter, AdapterFoldersFindTheirLocalBase) {
  TempDir tmp("lora_find_base");
  model::write_synthetic_model(tmp / "base", tiny_llama());
  const auto c = io::read_model_config(tmp / "base");
  Adapted adapted;
  for (const auto& m : llama_modules(2, {"q_proj"})) adapted[m] = random_factors(c, m, 2, 1.0, 5);
  write_adapter(tmp / "local", lora_config({"q_proj"}, 2, 2.0, tmp / "base"), adapted);
  const Transformer lora = Transformer::load(tmp / "local");
  EXPECT_EQ(max_logit_error(lora, Transformer::load(tmp / "local", tmp / "base")), 0.0);
  EXPECT_EQ(model::adapter_base_folder(tmp / "local"), tmp / "base");

  write_adapter(tmp / "hub", lora_config({"q_proj"}, 2, 2.0), adapted);
  EXPECT_FALSE(model::adapter_base_folder(tmp / "hub"));
  expect_error([&] { Transformer::load(tmp / "hub"); }, ErrorCategory::kInvalidArgument,
                        {"adapter_config.json", "base_model_name_or_path 'meta-llama/Llama-2-7b-hf' is not a local folder",
                         "--arm-base"});
  // An adapter read for another base shape is refused where it is applied.
  model::write_synthetic_model(tmp / "other", testing::llama_config(96, 64, 2, 4, 2, 48, 64));
  const auto adapter = model::LoraAdapter::load(tmp / "hub", c, "base");
  expect_error([&] { Transformer::load(tmp / "other").with_adapter(adapter); },
                        ErrorCategory::kInvalidArgument, {"LoRA adapter hub", "another shape"});
}

TEST(LoraAdapter, AdapterRowsBesideBaseRowsAreBatchInvariant) {
  TempDir tmp("lora_batch");
  model::write_synthetic_model(tmp / "base", tiny_llama());
  const auto c = io::read_model_config(tmp / "base");
  Adapted one, two;
  uint64_t seed = 200;
  for (const auto& m : llama_modules(2, {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"})) {
    one[m] = random_factors(c, m, 4, 2.0, seed++);
    two[m] = random_factors(c, m, 8, 1.0, seed++);
  }
  write_adapter(tmp / "one", lora_config("all-linear", 4, 8.0), one);
  write_adapter(tmp / "two", lora_config("all-linear", 8, 8.0), two);
  const Transformer base = Transformer::load(tmp / "base");
  const Transformer a1 = Transformer::load_adapter(tmp / "one", base);
  const Transformer a2 = Transformer::load_adapter(tmp / "two", base);
  const auto prompt_a = testing::token_ids(7, c.vocab_size, 1), prompt_b = testing::token_ids(5, c.vocab_size, 2),
             prompt_c = testing::token_ids(9, c.vocab_size, 3);

  // Alone: each sequence through its own model.
  const auto alone = [&](const Transformer& m, const std::vector<int32_t>& prompt, int32_t next) {
    auto s = m.new_sequence();
    m.forward(s, prompt);
    const auto logits = m.forward(s, next);
    return std::vector<float>(logits.begin(), logits.end());
  };
  const auto base_alone = alone(base, prompt_a, 5), one_alone = alone(a1, prompt_b, 6), two_alone = alone(a2, prompt_c, 7);

  // Together: one forward_batch over the shared weights — a base row, adapter rows, a prompt
  // chunk of another adapter's sequence — then a decode step with the order changed.
  auto sa = base.new_sequence(), sb = base.new_sequence(), sc = base.new_sequence(), sd = base.new_sequence();
  const int32_t t5 = 5, t6 = 6, t7 = 7;
  std::vector<model::BatchItem> items = {{&sb, prompt_b, false, nullptr, a1.adapter().get()},
                                         {&sa, prompt_a, false, nullptr, nullptr},
                                         {&sc, prompt_c, false, nullptr, a2.adapter().get()},
                                         {&sd, prompt_b, false, nullptr, a1.adapter().get()}};
  model::ForwardWorkspace ws;
  base.forward_batch(items, ws, nullptr);
  items = {{&sc, std::span<const int32_t>(&t7, 1), false, nullptr, a2.adapter().get()},
           {&sa, std::span<const int32_t>(&t5, 1), false, nullptr, nullptr},
           {&sb, std::span<const int32_t>(&t6, 1), false, nullptr, a1.adapter().get()}};
  base.forward_batch(items, ws, nullptr);
  const auto same = [](std::span<const float> got, const std::vector<float>& want) {
    return got.size() == want.size() && std::memcmp(got.data(), want.data(), want.size() * sizeof(float)) == 0;
  };
  EXPECT_TRUE(same(sa.logits(), base_alone));
  EXPECT_TRUE(same(sb.logits(), one_alone));
  EXPECT_TRUE(same(sc.logits(), two_alone));
  EXPECT_FALSE(same(sb.logits(), alone(base, prompt_b, 6)));  // the adapter did act
  // An adapted Transformer's own rows take its adapter; a state of the base model fits it too.
  auto se = a1.new_sequence();
  a1.forward_batch(std::vector<model::BatchItem>{{&se, prompt_b, false, nullptr, nullptr}}, ws, nullptr);
  a1.forward(se, 6);
  EXPECT_TRUE(same(se.logits(), one_alone));
}

// ------------------------------------------------------------------ refusals

struct Refusal {
  const char* name;
  nlohmann::json patch;  // over the valid config
  std::vector<std::string> fragments;
};

TEST(LoraAdapter, UnsupportedSettingsAreRefusedByName) {
  TempDir tmp("lora_refused");
  model::write_synthetic_model(tmp / "base", tiny_llama());
  const auto c = io::read_model_config(tmp / "base");
  Adapted adapted;
  for (const auto& m : llama_modules(2, {"q_proj", "v_proj"})) adapted[m] = random_factors(c, m, 4, 2.0, 7);
  const auto valid = lora_config({"q_proj", "v_proj"}, 4, 8.0);
  const std::vector<Refusal> refusals = {
      {"dora", {{"use_dora", true}}, {"use_dora", "DoRA"}},
      {"modules_to_save", {{"modules_to_save", {"lm_head"}}}, {"modules_to_save", "lm_head", "not supported"}},
      {"bias", {{"bias", "lora_only"}}, {"bias", "'lora_only'", "\"none\""}},
      {"lora_bias", {{"lora_bias", true}}, {"lora_bias"}},
      {"peft_type", {{"peft_type", "IA3"}}, {"peft_type", "'IA3'"}},
      {"embedding", {{"target_modules", {"q_proj", "embed_tokens"}}}, {"model.embed_tokens", "embeddings"}},
      {"head", {{"target_modules", {"lm_head", "q_proj"}}}, {"'lm_head'", "output head"}},
      {"nothing", {{"target_modules", {"c_attn"}}}, {"target_modules matches no linear layer", "self_attn.q_proj"}},
      {"regex", {{"target_modules", "(unclosed"}}, {"target_modules", "'(unclosed' is not a regular expression"}},
      {"rank", {{"r", 0}}, {"adapter_config.json", "r: expected an integer in [1"}},
  };
  for (const auto& r : refusals) {
    SCOPED_TRACE(r.name);
    const fs::path dir = tmp / r.name;
    write_adapter(dir, testing::patched(valid, r.patch), adapted);
    expect_error([&] { model::LoraAdapter::load(dir, c, "base"); },
                          std::string(r.name) == "nothing" ? ErrorCategory::kConfig
                          : std::string(r.name) == "regex" || std::string(r.name) == "rank"
                              ? ErrorCategory::kConfig
                              : ErrorCategory::kUnsupported,
                          r.fragments);
  }
}

TEST(LoraAdapter, TensorsThatDoNotFitAreRefusedByName) {
  TempDir tmp("lora_tensors");
  model::write_synthetic_model(tmp / "base", tiny_llama());
  const auto c = io::read_model_config(tmp / "base");
  Adapted adapted;
  for (const auto& m : llama_modules(2, {"q_proj", "v_proj"})) adapted[m] = random_factors(c, m, 4, 2.0, 7);
  const auto config = lora_config({"q_proj", "v_proj"}, 4, 8.0);

  // A rank that disagrees with r (and with rank_pattern's absence).
  Adapted wrong_rank = adapted;
  wrong_rank["model.layers.1.self_attn.v_proj"] = random_factors(c, "model.layers.1.self_attn.v_proj", 3, 2.0, 8);
  write_adapter(tmp / "rank", config, wrong_rank);
  expect_error([&] { model::LoraAdapter::load(tmp / "rank", c, "base"); }, ErrorCategory::kFormat,
                        {"adapter_model.safetensors", "base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight",
                         "[3, 32]", "r = 4", "[4, 32]"});
  // Factors for a bigger base.
  Adapted wide = adapted;
  Factors& f = wide["model.layers.0.self_attn.q_proj"];
  f.in = 40;
  f.a.resize(static_cast<size_t>(4 * 40), 0.1f);
  write_adapter(tmp / "wide", config, wide);
  expect_error([&] { model::LoraAdapter::load(tmp / "wide", c, "the base"); }, ErrorCategory::kFormat,
                        {"layers.0.self_attn.q_proj.lora_A.weight", "[4, 40]", "the base", "in_features 32", "[4, 32]"});
  // A targeted module without its factors.
  Adapted missing = adapted;
  missing.erase("model.layers.1.self_attn.q_proj");
  write_adapter(tmp / "missing", config, missing);
  expect_error([&] { model::LoraAdapter::load(tmp / "missing", c, "base"); }, ErrorCategory::kFormat,
                        {"missing tensor 'base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight'",
                         "adapter_config.json targets module model.layers.1.self_attn.q_proj"});
  // Tensors no target explains: an embedding LoRA, a DoRA magnitude, a saved module, a stray factor.
  for (const auto& [tag, tensor, fragment] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"emb", "base_model.model.model.embed_tokens.lora_embedding_A", "LoRA on embeddings"},
           {"dora", "base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector", "DoRA"},
           {"saved", "base_model.model.lm_head.modules_to_save.default.weight", "modules_to_save"},
           {"stray", "base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight", "belongs to no module"}}) {
    SCOPED_TRACE(tag);
    write_adapter(tmp / tag, config, adapted);
    auto raw = testing::read_raw_tensors(tmp / tag / "adapter_model.safetensors");
    raw[tensor] = {"F32", {4, 32}, std::string(4 * 32 * 4, '\0')};
    testing::write_raw_tensors(tmp / tag / "adapter_model.safetensors", raw);
    const fs::path dir = tmp / tag;  // (clang 14 cannot capture a structured binding)
    expect_error([&] { model::LoraAdapter::load(dir, c, "base"); },
                          tag == "stray" ? ErrorCategory::kFormat : ErrorCategory::kUnsupported, {tensor, fragment});
  }
  // No weights file at all.
  fs::create_directories(tmp / "empty");
  std::ofstream(tmp / "empty" / "adapter_config.json") << config.dump();
  expect_error([&] { model::LoraAdapter::load(tmp / "empty", c, "base"); }, ErrorCategory::kIo,
                        {"adapter_model.safetensors or adapter_model.bin"});
}

}  // namespace
}  // namespace genarm
