#include "genarm/model/synthetic.hpp"

#include <cmath>
#include <set>

#include "genarm/io/model_config.hpp"
#include "genarm/model/transformer.hpp"
#include "model_test_helpers.hpp"

namespace genarm::model {
namespace {

using genarm::testing::gpt2_config;
using genarm::testing::llama_config;
using genarm::testing::patched;
using genarm::testing::read_file;
using genarm::testing::TempDir;

std::set<std::string> names_of(const io::SafetensorsFile& f) {
  std::set<std::string> names;
  for (const auto& t : f.tensors()) names.insert(t.name);
  return names;
}

// The float32 values of a tensor, whatever its stored dtype.
std::vector<float> values_of(const io::TensorView& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < out.size(); ++i) {
    if (t.dtype == DType::kF32) {
      std::memcpy(&out[i], t.bytes.data() + 4 * i, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, t.bytes.data() + 2 * i, 2);
      out[i] = t.dtype == DType::kBF16 ? bf16_to_float(h) : f16_to_float(h);
    }
  }
  return out;
}

TEST(Synthetic, LlamaTensorsFollowTheCheckpointLayout) {
  TempDir dir("synth");
  write_synthetic_model(dir.path(), patched(llama_config(50, 24, 1, 4, 2, 40), {{"attention_bias", true}, {"mlp_bias", true}}));
  const auto f = io::SafetensorsFile::open(dir / "model.safetensors");
  const std::set<std::string> want = {
      "model.embed_tokens.weight",
      "model.layers.0.input_layernorm.weight",
      "model.layers.0.post_attention_layernorm.weight",
      "model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.q_proj.bias",
      "model.layers.0.self_attn.k_proj.weight", "model.layers.0.self_attn.k_proj.bias",
      "model.layers.0.self_attn.v_proj.weight", "model.layers.0.self_attn.v_proj.bias",
      "model.layers.0.self_attn.o_proj.weight", "model.layers.0.self_attn.o_proj.bias",
      "model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.gate_proj.bias",
      "model.layers.0.mlp.up_proj.weight", "model.layers.0.mlp.up_proj.bias",
      "model.layers.0.mlp.down_proj.weight", "model.layers.0.mlp.down_proj.bias",
      "model.norm.weight",
      "lm_head.weight",
  };
  EXPECT_EQ(names_of(f), want);
  // nn.Linear [out, in]; head_dim 6, 2 kv heads.
  EXPECT_EQ(f.find("model.layers.0.self_attn.k_proj.weight")->shape, (std::vector<int64_t>{12, 24}));
  EXPECT_EQ(f.find("model.layers.0.self_attn.o_proj.weight")->shape, (std::vector<int64_t>{24, 24}));
  EXPECT_EQ(f.find("model.layers.0.mlp.down_proj.weight")->shape, (std::vector<int64_t>{24, 40}));
  EXPECT_EQ(f.find("lm_head.weight")->shape, (std::vector<int64_t>{50, 24}));
  EXPECT_EQ(f.metadata().at("format"), "pt");
}

TEST(Synthetic, Gpt2TensorsAreConv1DAndTied) {
  TempDir dir("synth");
  write_synthetic_model(dir.path(), patched(gpt2_config(50, 16, 1, 2, 32), {{"n_inner", 40}}));
  const auto f = io::SafetensorsFile::open(dir / "model.safetensors");
  const std::set<std::string> want = {
      "transformer.wte.weight",        "transformer.wpe.weight",        "transformer.h.0.ln_1.weight",
      "transformer.h.0.ln_1.bias",     "transformer.h.0.ln_2.weight",   "transformer.h.0.ln_2.bias",
      "transformer.h.0.attn.c_attn.weight", "transformer.h.0.attn.c_attn.bias",
      "transformer.h.0.attn.c_proj.weight", "transformer.h.0.attn.c_proj.bias",
      "transformer.h.0.mlp.c_fc.weight",    "transformer.h.0.mlp.c_fc.bias",
      "transformer.h.0.mlp.c_proj.weight",  "transformer.h.0.mlp.c_proj.bias",
      "transformer.ln_f.weight",       "transformer.ln_f.bias",
  };
  EXPECT_EQ(names_of(f), want);  // no lm_head: tied
  // Conv1D weights are [in, out].
  EXPECT_EQ(f.find("transformer.h.0.attn.c_attn.weight")->shape, (std::vector<int64_t>{16, 48}));
  EXPECT_EQ(f.find("transformer.h.0.mlp.c_fc.weight")->shape, (std::vector<int64_t>{16, 40}));
  EXPECT_EQ(f.find("transformer.h.0.mlp.c_proj.weight")->shape, (std::vector<int64_t>{40, 16}));
  EXPECT_EQ(f.find("transformer.wpe.weight")->shape, (std::vector<int64_t>{32, 16}));
}

TEST(Synthetic, RewardModelsGetAScoreHeadInsteadOfALmHead) {
  TempDir dir("synth");
  write_synthetic_model(dir.path(), patched(llama_config(50, 24, 1, 4, 2, 40),
                                            {{"architectures", {"LlamaForSequenceClassification"}},
                                             {"id2label", {{"0", "LABEL_0"}}}}));
  const auto f = io::SafetensorsFile::open(dir / "model.safetensors");
  EXPECT_EQ(f.find("lm_head.weight"), nullptr);
  ASSERT_NE(f.find("score.weight"), nullptr);
  EXPECT_EQ(f.find("score.weight")->shape, (std::vector<int64_t>{1, 24}));
}

TEST(Synthetic, ValuesHaveTheDocumentedRanges) {
  TempDir dir("synth");
  write_synthetic_model(dir.path(), patched(gpt2_config(50, 16, 1, 2, 32), {{"n_inner", 64}}));
  const auto f = io::SafetensorsFile::open(dir / "model.safetensors");
  const auto within = [&](const std::string& name, float lo, float hi) {
    const auto v = values_of(*f.find(name));
    const auto [mn, mx] = std::minmax_element(v.begin(), v.end());
    EXPECT_GE(*mn, lo) << name;
    EXPECT_LE(*mx, hi) << name;
    EXPECT_GT(*mx - *mn, 0.5f * (hi - lo)) << name << " should spread over its range";
  };
  within("transformer.h.0.mlp.c_fc.weight", -0.25f, 0.25f);    // 1 / sqrt(fan_in 16)
  within("transformer.h.0.mlp.c_proj.weight", -0.125f, 0.125f);  // 1 / sqrt(fan_in 64)
  within("transformer.h.0.ln_1.weight", 0.9f, 1.1f);            // norms near 1
  within("transformer.h.0.ln_1.bias", -0.1f, 0.1f);
  within("transformer.wte.weight", -1.0f, 1.0f);
}

TEST(Synthetic, ScaleOptionBoundsTheMatrices) {
  TempDir dir("synth");
  write_synthetic_model(dir.path(), llama_config(50, 24, 1, 4, 2, 40), {.scale = 0.01f});
  const auto f = io::SafetensorsFile::open(dir / "model.safetensors");
  for (const char* name : {"model.layers.0.self_attn.q_proj.weight", "model.layers.0.mlp.down_proj.weight"}) {
    for (float v : values_of(*f.find(name))) ASSERT_LE(std::abs(v), 0.01f) << name;
  }
}

TEST(Synthetic, DtypeOptionAppliesToEveryTensor) {
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    TempDir dir("synth");
    write_synthetic_model(dir.path(), llama_config(50, 24, 1, 4, 2, 40), {.dtype = dtype});
    const auto f = io::SafetensorsFile::open(dir / "model.safetensors");
    for (const auto& t : f.tensors()) EXPECT_EQ(t.dtype, dtype) << t.name;
  }
}

TEST(Synthetic, SameSeedSameBytesOtherSeedOtherBytes) {
  TempDir a("synth"), b("synth"), c("synth");
  const auto config = llama_config(50, 24, 1, 4, 2, 40);
  write_synthetic_model(a.path(), config, {.seed = 5});
  write_synthetic_model(b.path(), config, {.seed = 5});
  write_synthetic_model(c.path(), config, {.seed = 6});
  EXPECT_EQ(read_file(a / "model.safetensors"), read_file(b / "model.safetensors"));
  EXPECT_NE(read_file(a / "model.safetensors"), read_file(c / "model.safetensors"));
}

TEST(Synthetic, ConfigJsonIsWrittenAsGiven) {
  TempDir dir("synth");
  const auto config = patched(llama_config(50, 24, 1, 4, 2, 40), {{"custom_key", "kept"}});
  write_synthetic_model(dir / "nested" / "model", config);
  EXPECT_EQ(genarm::testing::load_json(dir / "nested" / "model" / "config.json"), config);
}

TEST(Synthetic, EverySupportedArchitectureLoadsAndGivesFiniteLogits) {
  const auto llama = llama_config(40, 16, 1, 2, 1, 24);
  const std::vector<nlohmann::json> configs = {
      llama,
      patched(llama, {{"architectures", {"MistralForCausalLM"}}, {"model_type", "mistral"}, {"sliding_window", 3}}),
      patched(llama, {{"architectures", {"Qwen2ForCausalLM"}}, {"model_type", "qwen2"}}),
      gpt2_config(40, 16, 1, 2),
  };
  for (const auto& config : configs) {
    TempDir dir("synth");
    write_synthetic_model(dir.path(), config);
    const auto model = Transformer::load(dir.path());
    auto state = model.new_sequence();
    const auto logits = model.forward(state, std::vector<int32_t>{1, 2, 3});
    float spread = 0;
    for (float v : logits) {
      ASSERT_TRUE(std::isfinite(v)) << config.dump();
      spread = std::max(spread, std::abs(v));
    }
    EXPECT_GT(spread, 0.1f) << "random weights should give logits of order one: " << config.dump();
  }
}

TEST(Synthetic, InvalidConfigIsRejectedBeforeWriting) {
  TempDir dir("synth");
  auto config = llama_config(50, 24, 1, 4, 2, 40);
  config.erase("hidden_size");
  GENARM_EXPECT_ERROR(write_synthetic_model(dir / "m", config), ErrorCategory::kConfig,
                      (dir / "m" / "config.json").string() + ": hidden_size: missing required key");
  EXPECT_FALSE(std::filesystem::exists(dir / "m" / "model.safetensors"));
}

}  // namespace
}  // namespace genarm::model
