// Helpers shared by the model-layer tests: small config.json builders for synthetic checkpoints,
// deterministic token sequences, and raw editing of a model.safetensors (drop, add or retype a
// tensor) to build checkpoints that disagree with their config.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "genarm/io/safetensors.hpp"
#include "test_support.hpp"

namespace genarm::testing {

// A LlamaForCausalLM config.json in the transformers-5 layout.
inline nlohmann::json llama_config(int64_t vocab, int64_t hidden, int64_t layers, int64_t heads,
                                   int64_t kv_heads, int64_t intermediate, int64_t max_positions = 256) {
  return {{"architectures", {"LlamaForCausalLM"}},
          {"model_type", "llama"},
          {"vocab_size", vocab},
          {"hidden_size", hidden},
          {"num_hidden_layers", layers},
          {"num_attention_heads", heads},
          {"num_key_value_heads", kv_heads},
          {"intermediate_size", intermediate},
          {"max_position_embeddings", max_positions},
          {"rms_norm_eps", 1e-5},
          {"hidden_act", "silu"},
          {"rope_parameters", {{"rope_type", "default"}, {"rope_theta", 10000.0}}},
          {"tie_word_embeddings", false},
          {"bos_token_id", 1},
          {"eos_token_id", 2},
          {"dtype", "float32"}};
}

// A GPT2LMHeadModel config.json.
inline nlohmann::json gpt2_config(int64_t vocab, int64_t n_embd, int64_t n_layer, int64_t n_head,
                                  int64_t n_positions = 256) {
  return {{"architectures", {"GPT2LMHeadModel"}},
          {"model_type", "gpt2"},
          {"vocab_size", vocab},
          {"n_embd", n_embd},
          {"n_layer", n_layer},
          {"n_head", n_head},
          {"n_inner", nullptr},
          {"n_positions", n_positions},
          {"layer_norm_epsilon", 1e-5},
          {"activation_function", "gelu_new"},
          {"scale_attn_weights", true},
          {"scale_attn_by_inverse_layer_idx", false},
          {"tie_word_embeddings", true},
          {"bos_token_id", 0},
          {"eos_token_id", 0}};
}

// `config` with the members of `patch` replaced (JSON merge patch: null removes a key).
inline nlohmann::json patched(nlohmann::json config, const nlohmann::json& patch) {
  config.merge_patch(patch);
  return config;
}

// n token ids in [0, vocab), from a fixed LCG so every run sees the same sequence.
inline std::vector<int32_t> token_ids(size_t n, int64_t vocab, uint64_t seed = 7) {
  std::vector<int32_t> ids(n);
  uint64_t s = seed;
  for (auto& id : ids) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    id = static_cast<int32_t>((s >> 33) % static_cast<uint64_t>(vocab));
  }
  return ids;
}

inline Eigen::VectorXd to_eigen(const std::vector<double>& v) {
  return Eigen::Map<const Eigen::VectorXd>(v.data(), static_cast<Eigen::Index>(v.size()));
}
inline Eigen::VectorXd to_eigen(std::span<const float> v) {
  return Eigen::Map<const Eigen::VectorXf>(v.data(), static_cast<Eigen::Index>(v.size())).cast<double>();
}

// One tensor of a safetensors file as raw bytes, to rewrite checkpoints tensor by tensor.
struct RawTensor {
  std::string dtype;  // safetensors name: "F32", "BF16", "I8", ...
  std::vector<int64_t> shape;
  std::string bytes;
};
using RawTensors = std::map<std::string, RawTensor>;

inline RawTensors read_raw_tensors(const std::filesystem::path& file) {
  const auto st = io::SafetensorsFile::open(file);
  RawTensors out;
  for (const auto& t : st.tensors()) {
    out[t.name] = {std::string(dtype_name(t.dtype)), t.shape,
                   std::string(reinterpret_cast<const char*>(t.bytes.data()), t.bytes.size())};
  }
  return out;
}

// Writes `tensors` as a safetensors file (header unpadded, tensors in name order).
inline void write_raw_tensors(const std::filesystem::path& file, const RawTensors& tensors) {
  nlohmann::json header = nlohmann::json::object();
  std::string data;
  for (const auto& [name, t] : tensors) {
    header[name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {data.size(), data.size() + t.bytes.size()}}};
    data += t.bytes;
  }
  const std::string text = header.dump();
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((text.size() >> (8 * i)) & 0xff);
  write_file(file, out + text + data);
}

}  // namespace genarm::testing
