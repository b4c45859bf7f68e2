// Every architecture and option genarm supports, on random synthetic checkpoints, against the naive
// double-precision reference written from transformers' modeling code (reference_forward.hpp):
// full forward, token-by-token decoding with a growing KV cache, and a 2-thread pool. Then the
// checks that a checkpoint matches the tensors its architecture and config.json imply.
#include "genarm/model/architecture.hpp"

#include <cmath>
#include <functional>
#include <numbers>
#include <ostream>

#include "genarm/core/thread_pool.hpp"
#include "genarm/model/synthetic.hpp"
#include "genarm/model/transformer.hpp"
#include "model_test_helpers.hpp"
#include "reference_forward.hpp"

namespace genarm::model {
namespace {

using genarm::testing::gpt2_config;
using genarm::testing::llama_config;
using genarm::testing::patched;
using genarm::testing::ReferenceModel;
using genarm::testing::rows_near;
using genarm::testing::TempDir;
using genarm::testing::to_eigen;
using genarm::testing::token_ids;

constexpr double kTolerance = 1e-5;
// Longer than the Transformer's prefill chunk (64 rows), so prefill crosses chunk boundaries.
constexpr size_t kLongSequence = 150;

struct ArchCase {
  std::string name;
  nlohmann::json config;
  DType dtype = DType::kF32;
};
void PrintTo(const ArchCase& c, std::ostream* os) { *os << c.name; }

nlohmann::json llama3_scaled() {
  // head_dim 16, theta 10000: wavelengths 6.3, 19.9, 62.8 (< 256/4: kept), 199 (between 64 and 256:
  // blended) and 628 .. 19869 (> 256: divided by 8) — all three llama3 bands.
  return patched(llama_config(103, 64, 2, 4, 2, 112, 512),
                 {{"rope_parameters", nullptr},
                  {"rope_theta", 10000.0},
                  {"rope_scaling",
                   {{"rope_type", "llama3"},
                    {"factor", 8.0},
                    {"low_freq_factor", 1.0},
                    {"high_freq_factor", 4.0},
                    {"original_max_position_embeddings", 256}}}});
}

std::vector<ArchCase> architecture_cases() {
  const auto llama_gqa = llama_config(101, 48, 2, 6, 2, 100);  // head_dim 8, groups of 3
  const auto explicit_head_dim = patched(llama_config(97, 40, 2, 4, 2, 72), {{"head_dim", 14}});
  const auto qwen2 = patched(llama_config(89, 48, 2, 4, 2, 80),
                             {{"architectures", {"Qwen2ForCausalLM"}},
                              {"model_type", "qwen2"},
                              {"tie_word_embeddings", true},
                              {"rms_norm_eps", 1e-6},
                              // Ignored without use_sliding_window (Qwen2Config).
                              {"use_sliding_window", false},
                              {"sliding_window", 4},
                              {"max_window_layers", 0}});
  const auto mistral = [](int64_t window) {
    return patched(llama_config(83, 32, 2, 4, 2, 64),
                   {{"architectures", {"MistralForCausalLM"}}, {"model_type", "mistral"}, {"sliding_window", window}});
  };
  const auto gpt2_erf = patched(gpt2_config(113, 48, 2, 4), {{"activation_function", "gelu"}});
  return {
      {"LlamaSixHeadsThreeGroups", llama_gqa},
      {"LlamaSixHeadsThreeGroupsBF16", llama_gqa, DType::kBF16},
      {"LlamaSixHeadsThreeGroupsF16", llama_gqa, DType::kF16},
      {"LlamaExplicitHeadDim", explicit_head_dim},
      {"LlamaMultiQuery", llama_config(79, 64, 2, 8, 1, 96)},
      {"Qwen2TiedEmbeddingsQkvBias", qwen2},
      {"Qwen2TiedEmbeddingsQkvBiasBF16", qwen2, DType::kBF16},
      {"LlamaAttentionAndMlpBias",
       patched(llama_config(91, 48, 2, 4, 4, 84), {{"attention_bias", true}, {"mlp_bias", true}})},
      {"LlamaGeluTanhActivation",
       patched(llama_config(71, 32, 1, 2, 2, 48), {{"hidden_act", "gelu_pytorch_tanh"}})},
      {"LlamaLlama3Rope", llama3_scaled()},
      {"LlamaLinearRope",
       patched(llama_config(73, 48, 2, 4, 2, 64),
               {{"rope_parameters", {{"rope_type", "linear"}, {"factor", 4.0}, {"rope_theta", 500.0}}}})},
      {"MistralSlidingWindow7", mistral(7)},
      {"MistralSlidingWindow70", mistral(70)},
      {"MistralSlidingWindow7F16", mistral(7), DType::kF16},
      // Qwen2's window applies only to layers >= max_window_layers; LlamaAttention has none.
      {"Qwen2SlidingWindowOnNoLayer", patched(qwen2, {{"use_sliding_window", true}, {"max_window_layers", 28}})},
      {"Qwen2SlidingWindowOnEveryLayer",
       patched(qwen2, {{"use_sliding_window", true}, {"sliding_window", 9}, {"max_window_layers", 0}})},
      {"LlamaIgnoresSlidingWindowKey", patched(llama_config(59, 32, 2, 4, 2, 64), {{"sliding_window", 5}})},
      {"Gpt2GeluErf", gpt2_erf},
      {"Gpt2GeluErfF16", gpt2_erf, DType::kF16},
      {"Gpt2GeluNewScaledByInverseLayer",
       patched(gpt2_config(109, 32, 3, 2), {{"n_inner", 100}, {"scale_attn_by_inverse_layer_idx", true}})},
      {"Gpt2UnscaledUntied",
       patched(gpt2_config(67, 32, 2, 4), {{"scale_attn_weights", false}, {"tie_word_embeddings", false}})},
  };
}

class ArchitectureVsReference : public ::testing::TestWithParam<ArchCase> {
 protected:
  void SetUp() override {
    SyntheticOptions options;
    options.dtype = GetParam().dtype;
    options.seed = 1234;
    write_synthetic_model(dir_.path(), GetParam().config, options);
    model_ = std::make_unique<Transformer>(Transformer::load(dir_.path()));
    reference_ = std::make_unique<ReferenceModel>(ReferenceModel::load(dir_.path()));
  }

  std::vector<int32_t> ids(size_t n) const { return token_ids(n, model_->vocab_size(), 11 + n); }

  // Every row of forward_all over `tokens` against the reference.
  void expect_forward_all_matches(const std::vector<int32_t>& tokens, ThreadPool* pool) const {
    const auto want = reference_->logits(tokens);
    auto state = model_->new_sequence();
    state.set_thread_pool(pool);
    RowMatrix logits;
    model_->forward_all(state, tokens, logits);
    ASSERT_EQ(logits.rows(), static_cast<Eigen::Index>(tokens.size()));
    for (size_t t = 0; t < tokens.size(); ++t) {
      const Eigen::VectorXd got = logits.row(static_cast<Eigen::Index>(t)).cast<double>().transpose();
      EXPECT_TRUE(rows_near(got, to_eigen(want[t]), kTolerance)) << "position " << t << " of " << tokens.size();
    }
  }

  TempDir dir_{"arch"};
  std::unique_ptr<Transformer> model_;
  std::unique_ptr<ReferenceModel> reference_;
};

TEST_P(ArchitectureVsReference, FullForwardMatchesShortSequence) { expect_forward_all_matches(ids(11), nullptr); }

TEST_P(ArchitectureVsReference, FullForwardMatchesAcrossPrefillChunks) {
  expect_forward_all_matches(ids(kLongSequence), nullptr);
}

TEST_P(ArchitectureVsReference, TwoThreadForwardMatches) {
  ThreadPool pool(2);
  expect_forward_all_matches(ids(kLongSequence), &pool);
}

TEST_P(ArchitectureVsReference, TokenByTokenDecodingMatchesWhileCacheGrows) {
  const auto tokens = ids(kLongSequence);
  const auto want = reference_->logits(tokens);
  auto state = model_->new_sequence(1);
  const int64_t initial_capacity = state.capacity();
  for (size_t t = 0; t < tokens.size(); ++t) {
    const auto logits = model_->forward(state, tokens[t]);
    ASSERT_TRUE(rows_near(to_eigen(logits), to_eigen(want[t]), kTolerance)) << "decode step " << t;
  }
  EXPECT_EQ(state.length(), static_cast<int64_t>(kLongSequence));
  EXPECT_GT(state.capacity(), initial_capacity);
}

TEST_P(ArchitectureVsReference, ThreadedPrefillThenDecodeMatches) {
  ThreadPool pool(2);
  const auto tokens = ids(kLongSequence);
  const auto want = reference_->logits(tokens);
  auto state = model_->new_sequence(8);
  state.set_thread_pool(&pool);
  // Uneven prefill pieces (one of them longer than a chunk), then single tokens.
  size_t done = 0;
  for (size_t piece : {3, 70, 1, 13}) {
    const auto logits = model_->forward(state, std::span<const int32_t>(tokens).subspan(done, piece));
    done += piece;
    EXPECT_TRUE(rows_near(to_eigen(logits), to_eigen(want[done - 1]), kTolerance)) << "after " << done << " tokens";
  }
  for (; done < tokens.size(); ++done) {
    const auto logits = model_->forward(state, tokens[done]);
    ASSERT_TRUE(rows_near(to_eigen(logits), to_eigen(want[done]), kTolerance)) << "decode step " << done;
  }
}

INSTANTIATE_TEST_SUITE_P(Synthetic, ArchitectureVsReference, ::testing::ValuesIn(architecture_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(ArchitectureRope, Llama3ConfigCoversAllThreeBands) {
  // The test config above is only meaningful if its frequencies fall in every llama3 band.
  int high = 0, medium = 0, low = 0;
  for (int i = 0; i < 8; ++i) {
    const double wavelen = 2 * std::numbers::pi * std::pow(10000.0, 2.0 * i / 16);
    if (wavelen < 256.0 / 4) {
      ++high;
    } else if (wavelen > 256.0 / 1) {
      ++low;
    } else {
      ++medium;
    }
  }
  EXPECT_GT(high, 0);
  EXPECT_GT(medium, 0);
  EXPECT_GT(low, 0);
}

TEST(ArchitectureRope, InverseFrequenciesMatchReference) {
  const std::vector<nlohmann::json> configs = {
      llama3_scaled(),
      patched(llama_config(73, 48, 1, 4, 2, 64),
              {{"rope_parameters", {{"rope_type", "linear"}, {"factor", 4.0}, {"rope_theta", 500.0}}}}),
      patched(llama_config(73, 40, 1, 4, 2, 64), {{"head_dim", 14}}),
  };
  for (const auto& config : configs) {
    TempDir dir("rope");
    write_synthetic_model(dir.path(), config);
    const auto model = Transformer::load(dir.path());
    const auto reference = ReferenceModel::load(dir.path());
    const auto& got = model.weights().rope_inv_freq;
    const auto& want = reference.inv_freq();
    ASSERT_EQ(got.size(), want.size()) << config.dump();
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_NEAR(got[i], want[i], 2e-7 * want[i]) << "frequency " << i << " of " << config.dump();
    }
  }
}

// --- reward models: the score of the last non-pad token ---

struct RewardCase {
  std::string name;
  nlohmann::json config;
};
void PrintTo(const RewardCase& c, std::ostream* os) { *os << c.name; }

nlohmann::json classifier(nlohmann::json config, const std::string& arch, nlohmann::json pad) {
  return patched(std::move(config), {{"architectures", {arch}},
                                     {"id2label", {{"0", "LABEL_0"}}},
                                     {"label2id", {{"LABEL_0", 0}}},
                                     {"pad_token_id", std::move(pad)}});
}

std::vector<RewardCase> reward_cases() {
  const auto llama = llama_config(61, 48, 2, 4, 2, 96);
  const auto qwen2 = patched(llama_config(61, 32, 2, 4, 2, 64), {{"model_type", "qwen2"}});
  return {
      {"LlamaWithPad", classifier(llama, "LlamaForSequenceClassification", 0)},
      {"LlamaWithoutPad", classifier(llama, "LlamaForSequenceClassification", nullptr)},
      {"Qwen2WithPad", classifier(qwen2, "Qwen2ForSequenceClassification", 0)},
      {"Gpt2WithPad", classifier(gpt2_config(61, 32, 2, 4), "GPT2ForSequenceClassification", 0)},
      {"Gpt2WithoutPad", classifier(gpt2_config(61, 32, 2, 4), "GPT2ForSequenceClassification", nullptr)},
  };
}

class RewardVsReference : public ::testing::TestWithParam<RewardCase> {
 protected:
  void SetUp() override {
    write_synthetic_model(dir_.path(), GetParam().config, {.seed = 99});
    model_ = std::make_unique<Transformer>(Transformer::load(dir_.path()));
    reference_ = std::make_unique<ReferenceModel>(ReferenceModel::load(dir_.path()));
  }
  // Sequences with the pad token (id 0) in every place pooling cares about.
  static std::vector<std::vector<int32_t>> sequences() {
    auto long_padded = token_ids(kLongSequence - 20, 61, 5);
    for (auto& id : long_padded) id = 1 + id % 60;
    long_padded.insert(long_padded.end(), 20, 0);
    return {
        {5, 9, 3, 7},        // no padding
        {5, 9, 3, 0, 0},     // right padding
        {0, 0, 5, 9},        // left padding
        {5, 0, 9, 0},        // padding inside and at the end
        {0, 0, 0},           // all padding: transformers pools position 0
        {0},                 // one pad token
        {7},                 // one token
        long_padded,         // right padding after more than one prefill chunk
    };
  }
  static void expect_reward_near(float got, double want, const std::string& what) {
    EXPECT_NEAR(got, want, kTolerance * std::max(1.0, std::abs(want))) << what;
  }

  TempDir dir_{"reward"};
  std::unique_ptr<Transformer> model_;
  std::unique_ptr<ReferenceModel> reference_;
};

TEST_P(RewardVsReference, WholeSequenceRewardMatches) {
  for (const auto& ids : sequences()) {
    auto state = model_->new_sequence();
    model_->forward(state, ids);
    expect_reward_near(model_->reward(state), reference_->reward(ids), ::testing::PrintToString(ids));
  }
}

TEST_P(RewardVsReference, TokenByTokenRewardMatchesAfterEveryToken) {
  for (const auto& ids : sequences()) {
    auto state = model_->new_sequence(1);
    for (size_t t = 0; t < ids.size(); ++t) {
      model_->forward(state, ids[t]);
      const std::vector<int32_t> prefix(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(t) + 1);
      expect_reward_near(model_->reward(state), reference_->reward(prefix), ::testing::PrintToString(prefix));
    }
  }
}

TEST_P(RewardVsReference, ThreadedPiecewisePrefillRewardMatches) {
  ThreadPool pool(2);
  for (const auto& ids : sequences()) {
    auto state = model_->new_sequence();
    state.set_thread_pool(&pool);
    const size_t half = ids.size() / 2;
    if (half > 0) model_->forward(state, std::span<const int32_t>(ids).first(half));
    model_->forward(state, std::span<const int32_t>(ids).subspan(half));
    expect_reward_near(model_->reward(state), reference_->reward(ids), ::testing::PrintToString(ids));
  }
}

INSTANTIATE_TEST_SUITE_P(Synthetic, RewardVsReference, ::testing::ValuesIn(reward_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(ArchitectureReward, ForwardAllIsRejectedForRewardModels) {
  TempDir dir("rm");
  write_synthetic_model(dir.path(), classifier(llama_config(61, 32, 1, 2, 2, 64), "LlamaForSequenceClassification", 0));
  const auto model = Transformer::load(dir.path());
  auto state = model.new_sequence();
  RowMatrix logits;
  GENARM_EXPECT_ERROR(model.forward_all(state, std::vector<int32_t>{1, 2}, logits), ErrorCategory::kInvalidArgument,
                      "reward model has no next-token logits");
  GENARM_EXPECT_ERROR(model.reward(state), ErrorCategory::kInvalidArgument, "reward of an empty sequence");
}


// --- a checkpoint must hold exactly the tensors its architecture and config.json imply ---

class ArchitectureTensors : public ::testing::Test {
 protected:
  // Writes a synthetic model for `config`, lets `edit` change its tensors, and returns the folder.
  std::filesystem::path edited(const nlohmann::json& config,
                               const std::function<void(genarm::testing::RawTensors&)>& edit) {
    write_synthetic_model(dir_.path(), config);
    auto tensors = genarm::testing::read_raw_tensors(dir_ / "model.safetensors");
    edit(tensors);
    genarm::testing::write_raw_tensors(dir_ / "model.safetensors", tensors);
    return dir_.path();
  }
  std::string config_path() const { return (dir_ / "config.json").string(); }
  std::string weights_path() const { return (dir_ / "model.safetensors").string(); }

  const nlohmann::json llama_ = llama_config(61, 32, 2, 4, 2, 48);
  TempDir dir_{"tensors"};
};

TEST_F(ArchitectureTensors, MissingTensorIsNamed) {
  const auto dir = edited(llama_, [](auto& t) { t.erase("model.layers.1.mlp.up_proj.weight"); });
  GENARM_EXPECT_ERROR(Transformer::load(dir), ErrorCategory::kFormat, weights_path(),
                      "missing tensor 'model.layers.1.mlp.up_proj.weight'");
}

TEST_F(ArchitectureTensors, MissingLmHeadOfAnUntiedModelIsNamed) {
  const auto dir = edited(llama_, [](auto& t) { t.erase("lm_head.weight"); });
  GENARM_EXPECT_ERROR(Transformer::load(dir), ErrorCategory::kFormat, "missing tensor 'lm_head.weight'");
}

TEST_F(ArchitectureTensors, UnexpectedTensorIsNamed) {
  // A q_proj bias in a checkpoint whose config has no attention_bias: the config is wrong.
  const auto dir = edited(llama_, [](auto& t) {
    t["model.layers.0.self_attn.q_proj.bias"] = {"F32", {32}, std::string(32 * 4, '\0')};
  });
  GENARM_EXPECT_ERROR(Transformer::load(dir), ErrorCategory::kFormat, weights_path(), "unexpected tensors",
                      "'model.layers.0.self_attn.q_proj.bias'", config_path());
}

TEST_F(ArchitectureTensors, ManyUnexpectedTensorsAreCounted) {
  const auto dir = edited(llama_, [](auto& t) {
    for (int i = 0; i < 7; ++i) t["extra." + std::to_string(i)] = {"F32", {1}, std::string(4, '\0')};
  });
  GENARM_EXPECT_ERROR(Transformer::load(dir), ErrorCategory::kFormat, "'extra.0'", "(7 in all)");
}

TEST_F(ArchitectureTensors, ShapeDisagreeingWithConfigNamesBothShapes) {
  // k_proj for 3 kv heads of 8 instead of the config's 2.
  const auto dir = edited(llama_, [](auto& t) {
    t["model.layers.0.self_attn.k_proj.weight"] = {"F32", {24, 32}, std::string(24 * 32 * 4, '\0')};
  });
  GENARM_EXPECT_ERROR(Transformer::load(dir), ErrorCategory::kFormat, weights_path(),
                      "tensor 'model.layers.0.self_attn.k_proj.weight' has shape [24, 32]", config_path(),
                      "implies [16, 32]", "num_key_value_heads");
}

TEST_F(ArchitectureTensors, TransposedConv1DShapeIsRejected) {
  // GPT-2 stores c_attn as [in, 3 * out]; an nn.Linear-style [3 * out, in] tensor is wrong.
  const auto dir = edited(gpt2_config(61, 32, 1, 4), [](auto& t) {
    t["transformer.h.0.attn.c_attn.weight"] = {"F32", {96, 32}, std::string(96 * 32 * 4, '\0')};
  });
  GENARM_EXPECT_ERROR(Transformer::load(dir), ErrorCategory::kFormat,
                      "tensor 'transformer.h.0.attn.c_attn.weight' has shape [96, 32]", "implies [32, 96]");
}

TEST_F(ArchitectureTensors, IntegerWeightsAreUnsupported) {
  const auto dir = edited(llama_, [](auto& t) {
    t["model.layers.0.mlp.down_proj.weight"] = {"I8", {32, 48}, std::string(32 * 48, '\1')};
  });
  GENARM_EXPECT_ERROR(Transformer::load(dir), ErrorCategory::kUnsupported, weights_path(),
                      "tensor 'model.layers.0.mlp.down_proj.weight' has dtype I8", "F32, F16 or BF16");
}

TEST_F(ArchitectureTensors, IntegerNormIsUnsupported) {
  const auto dir = edited(llama_, [](auto& t) { t["model.norm.weight"] = {"I32", {32}, std::string(32 * 4, '\0')}; });
  GENARM_EXPECT_ERROR(Transformer::load(dir), ErrorCategory::kUnsupported, "'model.norm.weight' has dtype I32");
}

TEST_F(ArchitectureTensors, TiedModelMayAlsoStoreItsHead) {
  const auto tied = patched(llama_, {{"tie_word_embeddings", true}});
  const auto dir = edited(tied, [](auto& t) { t["lm_head.weight"] = t.at("model.embed_tokens.weight"); });
  const auto model = Transformer::load(dir);
  const auto reference = ReferenceModel::load(dir);
  auto state = model.new_sequence();
  const auto logits = model.forward(state, std::vector<int32_t>{3, 1, 4});
  EXPECT_TRUE(rows_near(to_eigen(logits), to_eigen(reference.logits({3, 1, 4}).back()), kTolerance));
}

TEST_F(ArchitectureTensors, StoredHeadOfATiedModelIsShapeChecked) {
  const auto tied = patched(llama_, {{"tie_word_embeddings", true}});
  const auto dir = edited(tied, [](auto& t) { t["lm_head.weight"] = {"F32", {60, 32}, std::string(60 * 32 * 4, '\0')}; });
  GENARM_EXPECT_ERROR(Transformer::load(dir), ErrorCategory::kFormat, "'lm_head.weight' has shape [60, 32]",
                      "implies [61, 32]");
}

TEST_F(ArchitectureTensors, RecomputedBuffersAreIgnored) {
  EXPECT_TRUE(is_ignorable_tensor("transformer.h.0.attn.bias"));
  EXPECT_TRUE(is_ignorable_tensor("transformer.h.3.attn.masked_bias"));
  EXPECT_TRUE(is_ignorable_tensor("model.layers.0.self_attn.rotary_emb.inv_freq"));
  EXPECT_FALSE(is_ignorable_tensor("model.layers.0.self_attn.q_proj.bias"));
  EXPECT_FALSE(is_ignorable_tensor("bias"));
  const auto dir = edited(llama_, [](auto& t) {
    t["model.layers.0.self_attn.rotary_emb.inv_freq"] = {"F32", {4}, std::string(16, '\0')};
  });
  EXPECT_NO_THROW(Transformer::load(dir));
}

TEST_F(ArchitectureTensors, Gpt2CheckpointWithoutTransformerPrefixLoads) {
  // The original "gpt2" upload names its tensors "h.0.attn.c_attn.weight", "wte.weight", ...
  const auto config = patched(gpt2_config(61, 32, 2, 4), {{"activation_function", "gelu"}});
  write_synthetic_model(dir_ / "prefixed", config);
  const auto reference = ReferenceModel::load(dir_ / "prefixed");
  write_synthetic_model(dir_ / "bare", config);
  auto tensors = genarm::testing::read_raw_tensors(dir_ / "bare" / "model.safetensors");
  genarm::testing::RawTensors bare;
  for (auto& [name, t] : tensors) {
    bare[name.rfind("transformer.", 0) == 0 ? name.substr(12) : name] = t;
  }
  bare["h.0.attn.bias"] = {"F32", {1, 1, 4, 4}, std::string(64, '\0')};  // old mask buffer
  genarm::testing::write_raw_tensors(dir_ / "bare" / "model.safetensors", bare);
  const auto model = Transformer::load(dir_ / "bare");
  const std::vector<int32_t> ids = {5, 8, 13, 21};
  RowMatrix logits;
  auto state = model.new_sequence();
  model.forward_all(state, ids, logits);
  const auto want = reference.logits(ids);
  for (size_t t = 0; t < ids.size(); ++t) {
    EXPECT_TRUE(rows_near(Eigen::VectorXd(logits.row(static_cast<Eigen::Index>(t)).cast<double>().transpose()),
                          to_eigen(want[t]), kTolerance));
  }
}

TEST(ArchitectureSpec, FamiliesMapToTheirSpecs) {
  io::ModelConfig c;
  c.family = io::ModelFamily::kLlama;
  EXPECT_EQ(&spec_for(c), &kLlamaSpec);
  c.family = io::ModelFamily::kGpt2;
  EXPECT_EQ(&spec_for(c), &kGpt2Spec);
  EXPECT_TRUE(kGpt2Spec.conv1d);
  EXPECT_FALSE(kLlamaSpec.conv1d);
  EXPECT_EQ(kLlamaSpec.mlp, MlpKind::kGated);
  EXPECT_EQ(kGpt2Spec.positions, PositionKind::kLearned);
}

}  // namespace
}  // namespace genarm::model
