#include "genarm/io/model_config.hpp"

#include "genarm/model/transformer.hpp"
#include "io_test_helpers.hpp"

namespace genarm::io {
namespace {

using genarm::testing::fixture_model;
using genarm::testing::load_json;
using genarm::testing::TempDir;
using genarm::testing::write_file;
using nlohmann::json;

ModelConfig parse(const json& j) { return parse_model_config(j, "config.json"); }

// The transformers-4.x spelling of a transformers-5 config.json: rope_theta at the top level,
// rope_scaling {<type_key>: type, ...} or null for plain RoPE, torch_dtype instead of dtype.
json to_v4(json c, const std::string& type_key = "rope_type") {
  if (c.contains("dtype")) {
    c["torch_dtype"] = c["dtype"];
    c.erase("dtype");
  }
  if (c.contains("rope_parameters")) {
    json p = c["rope_parameters"];
    c.erase("rope_parameters");
    c["rope_theta"] = p.value("rope_theta", 10000.0);
    p.erase("rope_theta");
    const std::string type = p.value("rope_type", "default");
    p.erase("rope_type");
    if (type == "default") {
      c["rope_scaling"] = nullptr;
    } else {
      p[type_key] = type;
      c["rope_scaling"] = p;
    }
  }
  c["transformers_version"] = "4.46.3";
  return c;
}

void expect_same_config(const ModelConfig& a, const ModelConfig& b) {
  EXPECT_EQ(a.architecture, b.architecture);
  EXPECT_EQ(a.model_type, b.model_type);
  EXPECT_EQ(a.family, b.family);
  EXPECT_EQ(a.head, b.head);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.num_hidden_layers, b.num_hidden_layers);
  EXPECT_EQ(a.num_attention_heads, b.num_attention_heads);
  EXPECT_EQ(a.num_key_value_heads, b.num_key_value_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.max_position_embeddings, b.max_position_embeddings);
  EXPECT_EQ(a.norm_eps, b.norm_eps);
  EXPECT_EQ(a.hidden_act, b.hidden_act);
  EXPECT_EQ(a.rope.type, b.rope.type);
  EXPECT_EQ(a.rope.theta, b.rope.theta);
  EXPECT_EQ(a.rope.factor, b.rope.factor);
  EXPECT_EQ(a.rope.low_freq_factor, b.rope.low_freq_factor);
  EXPECT_EQ(a.rope.high_freq_factor, b.rope.high_freq_factor);
  EXPECT_EQ(a.rope.original_max_position_embeddings, b.rope.original_max_position_embeddings);
  EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings);
  EXPECT_EQ(a.qkv_bias, b.qkv_bias);
  EXPECT_EQ(a.o_bias, b.o_bias);
  EXPECT_EQ(a.mlp_bias, b.mlp_bias);
  EXPECT_EQ(a.sliding_window, b.sliding_window);
  EXPECT_EQ(a.scale_attn_weights, b.scale_attn_weights);
  EXPECT_EQ(a.scale_attn_by_inverse_layer_idx, b.scale_attn_by_inverse_layer_idx);
  EXPECT_EQ(a.eos_token_ids, b.eos_token_ids);
  EXPECT_EQ(a.bos_token_id, b.bos_token_id);
  EXPECT_EQ(a.pad_token_id, b.pad_token_id);
  EXPECT_EQ(a.num_labels, b.num_labels);
  EXPECT_EQ(a.dtype, b.dtype);
}

const json& llama_tiny() {
  static const json j = load_json(fixture_model("llama-tiny") / "config.json");
  return j;
}
json llama_with(const json& patch) {
  json j = llama_tiny();
  j.merge_patch(patch);
  return j;
}
const json& gpt2_tiny() {
  static const json j = load_json(fixture_model("gpt2-tiny") / "config.json");
  return j;
}
json gpt2_with(const json& patch) {
  json j = gpt2_tiny();
  j.merge_patch(patch);
  return j;
}

// --- the fixtures (transformers 5.17 layout) ---

TEST(ModelConfig, ReadsLlamaFixture) {
  const auto c = read_model_config(fixture_model("llama-tiny"));
  EXPECT_EQ(c.architecture, "LlamaForCausalLM");
  EXPECT_EQ(c.model_type, "llama");
  EXPECT_EQ(c.family, ModelFamily::kLlama);
  EXPECT_EQ(c.head, ModelHead::kCausalLM);
  EXPECT_EQ(c.vocab_size, 1024);
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.num_hidden_layers, 2);
  EXPECT_EQ(c.num_attention_heads, 4);
  EXPECT_EQ(c.num_key_value_heads, 2);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.q_dim(), 64);
  EXPECT_EQ(c.kv_dim(), 32);
  EXPECT_EQ(c.intermediate_size, 172);
  EXPECT_EQ(c.max_position_embeddings, 256);
  EXPECT_DOUBLE_EQ(c.norm_eps, 1e-5);
  EXPECT_EQ(c.hidden_act, Activation::kSilu);
  EXPECT_EQ(c.rope.type, "default");
  EXPECT_DOUBLE_EQ(c.rope.theta, 10000.0);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_FALSE(c.qkv_bias || c.o_bias || c.mlp_bias);
  EXPECT_FALSE(c.sliding_window.has_value());
  EXPECT_EQ(c.eos_token_ids, (std::vector<int32_t>{2}));
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_FALSE(c.pad_token_id.has_value());
  EXPECT_EQ(c.dtype, "float32");
}

TEST(ModelConfig, ReadsGpt2FixtureKeys) {
  const auto c = read_model_config(fixture_model("gpt2-tiny") / "config.json");
  EXPECT_EQ(c.architecture, "GPT2LMHeadModel");
  EXPECT_EQ(c.family, ModelFamily::kGpt2);
  EXPECT_EQ(c.hidden_size, 64);          // n_embd
  EXPECT_EQ(c.num_hidden_layers, 2);     // n_layer
  EXPECT_EQ(c.num_attention_heads, 4);   // n_head
  EXPECT_EQ(c.num_key_value_heads, 4);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.intermediate_size, 256);   // n_inner null: 4 * n_embd
  EXPECT_EQ(c.max_position_embeddings, 128);  // n_positions
  EXPECT_DOUBLE_EQ(c.norm_eps, 1e-5);    // layer_norm_epsilon
  EXPECT_EQ(c.hidden_act, Activation::kGeluTanh);  // gelu_new
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_TRUE(c.qkv_bias && c.o_bias && c.mlp_bias);
  EXPECT_TRUE(c.scale_attn_weights);
  EXPECT_FALSE(c.scale_attn_by_inverse_layer_idx);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int32_t>{1023}));
  EXPECT_FALSE(c.pad_token_id.has_value());
}

TEST(ModelConfig, ReadsRewardModelFixture) {
  const auto c = read_model_config(fixture_model("llama-rm-tiny"));
  EXPECT_EQ(c.head, ModelHead::kSequenceClassification);
  EXPECT_EQ(c.num_labels, 1);  // from id2label
  EXPECT_EQ(c.head_dim, 12);
}

// --- transformers 4.x and 5.x layouts ---

class FixtureConfig : public ::testing::TestWithParam<std::string> {};

TEST_P(FixtureConfig, V4LayoutsParseLikeTheV5Original) {
  const json v5 = load_json(fixture_model(GetParam()) / "config.json");
  const auto want = parse(v5);
  expect_same_config(parse(to_v4(v5, "rope_type")), want);
  expect_same_config(parse(to_v4(v5, "type")), want);
}

// The fixture models with a 4.x-style config.json give bit-identical logits.
TEST_P(FixtureConfig, V4RewriteGivesIdenticalLogits) {
  TempDir dir("v4");
  write_file(dir / "config.json", to_v4(load_json(fixture_model(GetParam()) / "config.json"), "type").dump(2));
  std::filesystem::copy_file(fixture_model(GetParam()) / "model.safetensors", dir / "model.safetensors");
  const auto original = model::Transformer::load(fixture_model(GetParam()));
  const auto rewritten = model::Transformer::load(dir.path());
  const json expected = load_json(fixture_model(GetParam()) / "expected.json");
  for (const auto& seq : expected["sequences"]) {
    const auto ids = seq["ids"].get<std::vector<int32_t>>();
    auto a = original.new_sequence();
    auto b = rewritten.new_sequence();
    if (original.is_reward_model()) {
      original.forward(a, ids);
      rewritten.forward(b, ids);
      EXPECT_EQ(original.reward(a), rewritten.reward(b));
      continue;
    }
    model::RowMatrix la, lb;
    original.forward_all(a, ids, la);
    rewritten.forward_all(b, ids, lb);
    EXPECT_TRUE((la.array() == lb.array()).all()) << GetParam() << ": " << seq["ids"].dump();
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FixtureConfig,
                         ::testing::Values("gpt2-tiny", "llama-tiny", "llama-tiny-arm", "llama-tiny-arm2", "llama-small",
                                           "llama-tiny-bf16", "llama-tiny-f16", "llama-rm-tiny"),
                         [](const auto& info) {
                           std::string n = info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

TEST(ModelConfig, LinearRopeScalingInEveryLayout) {
  const json v5 = llama_with({{"rope_parameters", {{"rope_type", "linear"}, {"factor", 4.0}, {"rope_theta", 500.0}}}});
  const json v4_type = llama_with({{"rope_parameters", nullptr}, {"rope_theta", 500.0}, {"rope_scaling", {{"type", "linear"}, {"factor", 4}}}});
  const json v4_rope_type =
      llama_with({{"rope_parameters", nullptr}, {"rope_theta", 500.0}, {"rope_scaling", {{"rope_type", "linear"}, {"factor", 4.0}}}});
  const auto c = parse(v5);
  EXPECT_EQ(c.rope.type, "linear");
  EXPECT_DOUBLE_EQ(c.rope.factor, 4.0);
  EXPECT_DOUBLE_EQ(c.rope.theta, 500.0);
  expect_same_config(parse(v4_type), c);
  expect_same_config(parse(v4_rope_type), c);
}

TEST(ModelConfig, Llama3RopeScalingInEveryLayout) {
  const json params = {{"factor", 8.0}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}};
  json v5_params = params;
  v5_params["rope_type"] = "llama3";
  v5_params["rope_theta"] = 500000.0;
  json v4_params = params;
  v4_params["rope_type"] = "llama3";
  const auto c = parse(llama_with({{"rope_parameters", v5_params}}));
  EXPECT_EQ(c.rope.type, "llama3");
  EXPECT_DOUBLE_EQ(c.rope.theta, 500000.0);
  EXPECT_DOUBLE_EQ(c.rope.factor, 8.0);
  EXPECT_DOUBLE_EQ(c.rope.low_freq_factor, 1.0);
  EXPECT_DOUBLE_EQ(c.rope.high_freq_factor, 4.0);
  EXPECT_EQ(c.rope.original_max_position_embeddings, 8192);
  expect_same_config(parse(llama_with({{"rope_parameters", nullptr}, {"rope_theta", 500000.0}, {"rope_scaling", v4_params}})), c);
}

TEST(ModelConfig, RopeParametersKeyedByAttentionType) {
  // transformers 5 may key rope_parameters by layer type.
  json j = llama_tiny();
  j["rope_parameters"] = {{"full_attention", {{"rope_type", "linear"}, {"factor", 2.0}, {"rope_theta", 1000.0}}}};
  const auto c = parse(j);
  EXPECT_EQ(c.rope.type, "linear");
  EXPECT_DOUBLE_EQ(c.rope.theta, 1000.0);
}

TEST(ModelConfig, DefaultsForAbsentOptionalKeys) {
  json j = llama_tiny();
  for (const char* key : {"num_key_value_heads", "head_dim", "rms_norm_eps", "hidden_act", "rope_parameters",
                          "tie_word_embeddings", "attention_bias", "mlp_bias", "max_position_embeddings", "dtype",
                          "eos_token_id", "bos_token_id", "pad_token_id"}) {
    j.erase(key);
  }
  const auto c = parse(j);
  EXPECT_EQ(c.num_key_value_heads, 4) << "defaults to num_attention_heads";
  EXPECT_EQ(c.head_dim, 16) << "hidden_size / num_attention_heads";
  EXPECT_DOUBLE_EQ(c.norm_eps, 1e-6);
  EXPECT_EQ(c.hidden_act, Activation::kSilu);
  EXPECT_EQ(c.rope.type, "default");
  EXPECT_DOUBLE_EQ(c.rope.theta, 10000.0);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.max_position_embeddings, 2048);
  EXPECT_TRUE(c.eos_token_ids.empty());
  EXPECT_FALSE(c.bos_token_id.has_value());
  EXPECT_EQ(c.dtype, "");
}

TEST(ModelConfig, ExplicitHeadDimNeedNotDivideHiddenSize) {
  const auto c = parse(llama_with({{"hidden_size", 50}, {"head_dim", 14}}));
  EXPECT_EQ(c.head_dim, 14);
  EXPECT_EQ(c.q_dim(), 56);
  json null_head_dim = llama_tiny();
  null_head_dim["head_dim"] = nullptr;
  EXPECT_EQ(parse(null_head_dim).head_dim, 16) << "a null head_dim is absent";
}

TEST(ModelConfig, ModelTypeAloneSelectsTheCausalLm) {
  json j = llama_tiny();
  j.erase("architectures");
  j["model_type"] = "mistral";
  const auto c = parse(j);
  EXPECT_EQ(c.architecture, "MistralForCausalLM");
  EXPECT_EQ(c.head, ModelHead::kCausalLM);
  json g = gpt2_tiny();
  g.erase("architectures");
  EXPECT_EQ(parse(g).architecture, "GPT2LMHeadModel");
}

// --- GPT-2 keys ---

TEST(ModelConfig, Gpt2ActivationsInnerSizeAndScaling) {
  EXPECT_EQ(parse(gpt2_with({{"activation_function", "gelu"}})).hidden_act, Activation::kGeluErf);
  EXPECT_EQ(parse(gpt2_with({{"activation_function", "gelu_pytorch_tanh"}})).hidden_act, Activation::kGeluTanh);
  EXPECT_EQ(parse(gpt2_with({{"activation_function", "gelu_fast"}})).hidden_act, Activation::kGeluTanh);
  EXPECT_EQ(parse(gpt2_with({{"activation_function", "relu"}})).hidden_act, Activation::kRelu);
  EXPECT_EQ(parse(gpt2_with({{"activation_function", nullptr}})).hidden_act, Activation::kGeluTanh) << "GPT2Config default";
  EXPECT_EQ(parse(gpt2_with({{"n_inner", 100}})).intermediate_size, 100);
  EXPECT_TRUE(parse(gpt2_with({{"tie_word_embeddings", nullptr}})).tie_word_embeddings) << "GPT-2 ties by default";
  EXPECT_FALSE(parse(gpt2_with({{"tie_word_embeddings", false}})).tie_word_embeddings);
  const auto c = parse(gpt2_with({{"scale_attn_weights", false}, {"scale_attn_by_inverse_layer_idx", true}}));
  EXPECT_FALSE(c.scale_attn_weights);
  EXPECT_TRUE(c.scale_attn_by_inverse_layer_idx);
  EXPECT_EQ(parse(gpt2_with({{"layer_norm_epsilon", nullptr}})).norm_eps, 1e-5);
}

TEST(ModelConfig, Gpt2ErrorsNameTheirKeys) {
  GENARM_EXPECT_ERROR(parse(gpt2_with({{"n_embd", 50}})), ErrorCategory::kConfig, "n_embd 50 is not divisible by n_head 4");
  GENARM_EXPECT_ERROR(parse(gpt2_with({{"add_cross_attention", true}})), ErrorCategory::kUnsupported,
                      "config.json: add_cross_attention: cross-attention is not supported");
  GENARM_EXPECT_ERROR(parse(gpt2_with({{"n_positions", nullptr}})), ErrorCategory::kConfig, "config.json: n_positions: missing required key");
  GENARM_EXPECT_ERROR(parse(gpt2_with({{"activation_function", "mish"}})), ErrorCategory::kUnsupported,
                      "config.json: activation_function: activation 'mish' is not supported");
}

// --- special tokens ---

TEST(ModelConfig, EosTokenIdAsIntListOrNull) {
  EXPECT_EQ(parse(llama_with({{"eos_token_id", 7}})).eos_token_ids, (std::vector<int32_t>{7}));
  EXPECT_EQ(parse(llama_with({{"eos_token_id", {128001, 128008, 128009}}})).eos_token_ids,
            (std::vector<int32_t>{128001, 128008, 128009}));
  json null_eos = llama_tiny();
  null_eos["eos_token_id"] = nullptr;
  EXPECT_TRUE(parse(null_eos).eos_token_ids.empty());
  EXPECT_EQ(parse(llama_with({{"bos_token_id", {5, 6}}})).bos_token_id, 5) << "the first of a list";
  EXPECT_FALSE(parse(llama_with({{"bos_token_id", json::array()}})).bos_token_id.has_value());
  EXPECT_EQ(parse(llama_with({{"pad_token_id", 0}})).pad_token_id, 0);
}

TEST(ModelConfig, NegativeSpecialTokenIdsMeanNone) {
  // The original LLaMA conversion (and the Alpaca-style models fine-tuned from it) writes
  // "pad_token_id": -1; transformers loads it, and -1 matches no token.
  const auto c = parse(llama_with({{"pad_token_id", -1}, {"bos_token_id", 0}, {"eos_token_id", 1}}));
  EXPECT_FALSE(c.pad_token_id.has_value());
  EXPECT_EQ(c.eos_token_ids, (std::vector<int32_t>{1}));
  EXPECT_TRUE(parse(llama_with({{"eos_token_id", -1}})).eos_token_ids.empty());
}

TEST(ModelConfig, BadTokenIdsAreNamed) {
  GENARM_EXPECT_ERROR(parse(llama_with({{"eos_token_id", {2, "3"}}})), ErrorCategory::kConfig,
                      "config.json: eos_token_id[1]: expected an integer, got a string \"3\"");
  GENARM_EXPECT_ERROR(parse(llama_with({{"eos_token_id", 4294967296}})), ErrorCategory::kConfig,
                      "config.json: eos_token_id: expected an integer in [-2147483648, 2147483647], got an integer 4294967296");
  GENARM_EXPECT_ERROR(parse(llama_with({{"pad_token_id", "0"}})), ErrorCategory::kConfig, "config.json: pad_token_id: expected an integer, got a string \"0\"");
}

TEST(ModelConfig, GenerationConfigAddsEosTokens) {
  TempDir dir("gen");
  write_file(dir / "config.json", llama_with({{"eos_token_id", 2}}).dump());
  write_file(dir / "generation_config.json", R"({"eos_token_id": [2, 7], "bos_token_id": 1})");
  EXPECT_EQ(read_model_config(dir.path()).eos_token_ids, (std::vector<int32_t>{2, 7}));
  write_file(dir / "generation_config.json", R"({"eos_token_id": 9})");
  EXPECT_EQ(read_model_config(dir / "config.json").eos_token_ids, (std::vector<int32_t>{2, 9}));
  write_file(dir / "generation_config.json", R"({"do_sample": true})");
  EXPECT_EQ(read_model_config(dir.path()).eos_token_ids, (std::vector<int32_t>{2}));
  write_file(dir / "generation_config.json", R"({"eos_token_id": )");
  GENARM_EXPECT_ERROR(read_model_config(dir.path()), ErrorCategory::kFormat, (dir / "generation_config.json").string(),
                      "not valid JSON");
  write_file(dir / "generation_config.json", R"({"eos_token_id": "two"})");
  GENARM_EXPECT_ERROR(read_model_config(dir.path()), ErrorCategory::kConfig, (dir / "generation_config.json").string() + ": eos_token_id: expected an integer, got a string \"two\"");
}

// --- architecture-specific options ---

TEST(ModelConfig, Qwen2ImpliesQkvBiasOnly) {
  const auto c = parse(llama_with({{"architectures", {"Qwen2ForCausalLM"}}, {"model_type", "qwen2"}}));
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_FALSE(c.o_bias);
  EXPECT_FALSE(c.mlp_bias);
  EXPECT_EQ(c.family, ModelFamily::kLlama);
}

TEST(ModelConfig, LlamaBiasFlags) {
  const auto attn = parse(llama_with({{"attention_bias", true}}));
  EXPECT_TRUE(attn.qkv_bias);
  EXPECT_TRUE(attn.o_bias);
  EXPECT_FALSE(attn.mlp_bias);
  EXPECT_TRUE(parse(llama_with({{"mlp_bias", true}})).mlp_bias);
}

TEST(ModelConfig, MistralSlidingWindow) {
  const json mistral = llama_with({{"architectures", {"MistralForCausalLM"}}, {"model_type", "mistral"}});
  auto with = [&](const json& patch) {
    json j = mistral;
    j.merge_patch(patch);
    return parse(j);
  };
  EXPECT_EQ(with({{"sliding_window", 4096}}).sliding_window, 4096);
  json null_window = mistral;
  null_window["sliding_window"] = nullptr;  // (a merge patch would remove the key)
  EXPECT_FALSE(parse(null_window).sliding_window.has_value()) << "Mistral v0.2+: null";
  json absent = mistral;
  absent.erase("sliding_window");
  EXPECT_EQ(parse(absent).sliding_window, 4096) << "MistralConfig(sliding_window=4096) when the key is absent";
  GENARM_EXPECT_ERROR(with({{"sliding_window", 0}}), ErrorCategory::kConfig, "config.json: sliding_window: expected an integer in [1, 1099511627776], got an integer 0");
}

TEST(ModelConfig, LlamaIgnoresSlidingWindow) {
  // LlamaAttention has no sliding window whatever config.json says.
  EXPECT_FALSE(parse(llama_with({{"sliding_window", 8}})).sliding_window.has_value());
}

TEST(ModelConfig, Qwen2SlidingWindowFollowsItsLayerTypes) {
  const json qwen2 = llama_with({{"architectures", {"Qwen2ForCausalLM"}}, {"model_type", "qwen2"}, {"sliding_window", 32}});
  auto with = [&](const json& patch) {
    json j = qwen2;
    j.merge_patch(patch);
    return parse(j);
  };
  EXPECT_FALSE(with({{"use_sliding_window", false}}).sliding_window.has_value());
  json null_window = qwen2;
  null_window["use_sliding_window"] = true;
  null_window["sliding_window"] = nullptr;
  null_window["max_window_layers"] = 0;
  EXPECT_FALSE(parse(null_window).sliding_window.has_value()) << "Qwen2Config: a null window disables it";
  EXPECT_FALSE(with(json::object()).sliding_window.has_value()) << "use_sliding_window defaults to false";
  // Qwen2Config: layers >= max_window_layers (default 28) slide; the fixture has 2 layers.
  EXPECT_FALSE(with({{"use_sliding_window", true}}).sliding_window.has_value());
  EXPECT_FALSE(with({{"use_sliding_window", true}, {"max_window_layers", 2}}).sliding_window.has_value());
  EXPECT_EQ(with({{"use_sliding_window", true}, {"max_window_layers", 0}}).sliding_window, 32);
  GENARM_EXPECT_ERROR(with({{"use_sliding_window", true}, {"max_window_layers", 1}}), ErrorCategory::kUnsupported,
                      "max_window_layers");
  // transformers 5 writes the resolved layer_types.
  EXPECT_EQ(with({{"use_sliding_window", true}, {"layer_types", {"sliding_attention", "sliding_attention"}}}).sliding_window, 32);
  EXPECT_FALSE(with({{"use_sliding_window", true}, {"layer_types", {"full_attention", "full_attention"}}}).sliding_window.has_value());
  GENARM_EXPECT_ERROR(with({{"use_sliding_window", true}, {"layer_types", {"full_attention", "sliding_attention"}}}),
                      ErrorCategory::kUnsupported, "layer_types");
}

TEST(ModelConfig, RewardModelNeedsOneLabel) {
  const json rm = load_json(fixture_model("llama-rm-tiny") / "config.json");
  auto with = [&](const json& patch) {
    json j = rm;
    j.merge_patch(patch);
    return j;
  };
  EXPECT_EQ(parse(with({{"num_labels", 1}})).num_labels, 1);
  GENARM_EXPECT_ERROR(parse(with({{"id2label", {{"0", "NEG"}, {"1", "POS"}}}})), ErrorCategory::kUnsupported,
                      "LlamaForSequenceClassification with num_labels 2", "only num_labels = 1");
  // Without id2label or num_labels, transformers' default is two labels.
  GENARM_EXPECT_ERROR(parse(with({{"id2label", nullptr}})), ErrorCategory::kUnsupported, "with num_labels 2");
  GENARM_EXPECT_ERROR(parse(with({{"id2label", nullptr}, {"num_labels", 3}})), ErrorCategory::kUnsupported, "num_labels 3");
}

// --- errors name the key and the value ---

TEST(ModelConfig, MissingRequiredKeysAreNamed) {
  for (const char* key : {"vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size"}) {
    json j = llama_tiny();
    j.erase(key);
    GENARM_EXPECT_ERROR(parse(j), ErrorCategory::kConfig, "config.json: " + std::string(key) + ": missing required key");
  }
}

TEST(ModelConfig, WrongTypesAreNamedWithTheValue) {
  GENARM_EXPECT_ERROR(parse(llama_with({{"hidden_size", "64"}})), ErrorCategory::kConfig,
                      "config.json: hidden_size: expected an integer, got a string \"64\"");
  GENARM_EXPECT_ERROR(parse(llama_with({{"intermediate_size", 172.5}})), ErrorCategory::kConfig,
                      "config.json: intermediate_size: expected an integer, got a number 172.5");
  GENARM_EXPECT_ERROR(parse(llama_with({{"vocab_size", 18446744073709551615ull}})), ErrorCategory::kConfig,
                      "config.json: vocab_size: expected an integer in [1, 1099511627776], got an integer 18446744073709551615");
  GENARM_EXPECT_ERROR(parse(llama_with({{"tie_word_embeddings", "false"}})), ErrorCategory::kConfig,
                      "config.json: tie_word_embeddings: expected a boolean, got a string \"false\"");
  GENARM_EXPECT_ERROR(parse(llama_with({{"rms_norm_eps", "1e-5"}})), ErrorCategory::kConfig,
                      "config.json: rms_norm_eps: expected a number, got a string \"1e-5\"");
  GENARM_EXPECT_ERROR(parse(llama_with({{"architectures", "LlamaForCausalLM"}})), ErrorCategory::kConfig,
                      "config.json: architectures: expected an array, got a string \"LlamaForCausalLM\"");
  GENARM_EXPECT_ERROR(parse(llama_with({{"rope_parameters", "default"}})), ErrorCategory::kConfig,
                      "config.json: rope_parameters: expected an object, got a string \"default\"");
  GENARM_EXPECT_ERROR(parse(json::array()), ErrorCategory::kConfig, "config.json: expected an object, got an array []");
}

TEST(ModelConfig, ValuesOutOfRangeAreNamed) {
  GENARM_EXPECT_ERROR(parse(llama_with({{"num_hidden_layers", 0}})), ErrorCategory::kConfig,
                      "config.json: num_hidden_layers: expected an integer in [1, 1099511627776], got an integer 0");
  GENARM_EXPECT_ERROR(parse(llama_with({{"num_attention_heads", -4}})), ErrorCategory::kConfig,
                      "config.json: num_attention_heads: expected an integer in [1, 1099511627776], got an integer -4");
  GENARM_EXPECT_ERROR(parse(llama_with({{"rms_norm_eps", 0}})), ErrorCategory::kConfig,
                      "epsilon must be a positive number, got 0");
}

TEST(ModelConfig, HeadShapesMustAgree) {
  GENARM_EXPECT_ERROR(parse(llama_with({{"hidden_size", 50}, {"head_dim", nullptr}})), ErrorCategory::kConfig,
                      "hidden_size 50 is not divisible by num_attention_heads 4 and no head_dim is given");
  GENARM_EXPECT_ERROR(parse(llama_with({{"num_key_value_heads", 3}})), ErrorCategory::kConfig,
                      "num_attention_heads 4 is not a multiple of num_key_value_heads 3");
  GENARM_EXPECT_ERROR(parse(llama_with({{"head_dim", 15}})), ErrorCategory::kConfig,
                      "config.json: rotary embeddings need an even head_dim, got 15");
}

TEST(ModelConfig, UnsupportedArchitectureListsTheSupportedOnes) {
  GENARM_EXPECT_ERROR(parse(llama_with({{"architectures", {"PhiForCausalLM"}}})), ErrorCategory::kUnsupported,
                      "config.json: architecture 'PhiForCausalLM' is not supported",
                      "supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, GPT2LMHeadModel, "
                      "LlamaForSequenceClassification, MistralForSequenceClassification, "
                      "Qwen2ForSequenceClassification, GPT2ForSequenceClassification");
  json j = llama_tiny();
  j.erase("architectures");
  j["model_type"] = "phi";
  GENARM_EXPECT_ERROR(parse(j), ErrorCategory::kUnsupported, "architecture 'model_type phi' is not supported");
  GENARM_EXPECT_ERROR(parse(llama_with({{"architectures", {"LlamaForCausalLM", "LlamaModel"}}})), ErrorCategory::kUnsupported,
                      "config.json: architectures: expected exactly one architecture, got an array [\"LlamaForCausalLM\",\"LlamaModel\"]");
  GENARM_EXPECT_ERROR(parse(llama_with({{"hidden_act", "swiglu"}})), ErrorCategory::kUnsupported,
                      "config.json: hidden_act: activation 'swiglu' is not supported");
}

TEST(ModelConfig, UnsupportedRopeTypesAreNamed) {
  GENARM_EXPECT_ERROR(parse(llama_with({{"rope_parameters", nullptr}, {"rope_scaling", {{"type", "dynamic"}, {"factor", 2.0}}}})),
                      ErrorCategory::kUnsupported,
                      "config.json: rope_scaling.type: rope type 'dynamic' is not supported (default, linear, llama3)");
  GENARM_EXPECT_ERROR(parse(llama_with({{"rope_parameters", {{"rope_type", "yarn"}, {"factor", 4.0}}}})),
                      ErrorCategory::kUnsupported, "config.json: rope_parameters.rope_type: rope type 'yarn'");
  GENARM_EXPECT_ERROR(parse(llama_with({{"rope_parameters", {{"rope_type", "default"}, {"partial_rotary_factor", 0.5}}}})),
                      ErrorCategory::kUnsupported, "rope_parameters.partial_rotary_factor");
}

TEST(ModelConfig, BadRopeParametersAreNamed) {
  GENARM_EXPECT_ERROR(parse(llama_with({{"rope_parameters", {{"rope_type", "linear"}}}})), ErrorCategory::kConfig,
                      "config.json: rope_parameters.factor: missing required key");
  GENARM_EXPECT_ERROR(parse(llama_with({{"rope_parameters", nullptr}, {"rope_scaling", {{"type", "linear"}, {"factor", 0}}}})),
                      ErrorCategory::kConfig, "config.json: rope_scaling.factor: expected a positive number, got an integer 0");
  GENARM_EXPECT_ERROR(
      parse(llama_with({{"rope_parameters", nullptr},
                        {"rope_scaling", {{"rope_type", "llama3"}, {"factor", 8.0}, {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}}}})),
      ErrorCategory::kConfig, "config.json: rope_scaling.low_freq_factor: missing required key");
  GENARM_EXPECT_ERROR(
      parse(llama_with({{"rope_parameters",
                         {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 4.0}, {"high_freq_factor", 1.0},
                          {"original_max_position_embeddings", 8192}}}})),
      ErrorCategory::kConfig, "0 < low_freq_factor < high_freq_factor, got 4 and 1");
  GENARM_EXPECT_ERROR(parse(llama_with({{"rope_parameters", {{"rope_type", "default"}, {"rope_theta", -1.0}}}})),
                      ErrorCategory::kConfig, "config.json: rope_parameters.rope_theta: expected a positive number, got a number -1.0");
}

TEST(ModelConfig, FileErrors) {
  TempDir dir("cfg");
  GENARM_EXPECT_ERROR(read_model_config(dir.path()), ErrorCategory::kIo, (dir / "config.json").string(), "no config.json");
  write_file(dir / "config.json", "{\"hidden_size\": 64,");
  GENARM_EXPECT_ERROR(read_model_config(dir.path()), ErrorCategory::kFormat, (dir / "config.json").string(), "not valid JSON");
  write_file(dir / "config.json", llama_with({{"hidden_size", "64"}}).dump());
  GENARM_EXPECT_ERROR(read_model_config(dir.path()), ErrorCategory::kConfig,
                      (dir / "config.json").string() + ": hidden_size: expected an integer");
  // Hostile nesting, in config.json and in generation_config.json: format errors, not a stack overflow.
  write_file(dir / "config.json", std::string(200000, '[') + std::string(200000, ']'));
  GENARM_EXPECT_ERROR(read_model_config(dir.path()), ErrorCategory::kFormat,
                      (dir / "config.json").string() + ": JSON nested deeper than 128 levels");
  write_file(dir / "config.json", llama_tiny().dump());
  write_file(dir / "generation_config.json", "{\"eos_token_id\": " + std::string(200000, '[') + "2" + std::string(200000, ']') + "}");
  GENARM_EXPECT_ERROR(read_model_config(dir.path()), ErrorCategory::kFormat,
                      (dir / "generation_config.json").string() + ": JSON nested deeper than 128 levels");
}

}  // namespace
}  // namespace genarm::io
