// Synthetic checkpoints: writes a Hugging Face model folder (config.json + model.safetensors) with
// random weights for any supported config — to benchmark a model shape without downloading it, and
// to test architectures and options no fixture covers. Tensor names and layouts come from the same
// ArchitectureSpec the loader reads, so a synthetic folder is exactly what the loader expects.
// Weights are uniform in [-scale, scale] from a fixed seed (same bytes on every platform); norms
// are near 1.
// Thread-safety: free functions; writing the same folder from two threads is not supported.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "genarm/core/dtype.hpp"
#include "genarm/io/model_config.hpp"
#include "genarm/io/safetensors_writer.hpp"
#include "genarm/model/architecture.hpp"

namespace genarm::model {

struct SyntheticOptions {
  uint64_t seed = 1;
  DType dtype = DType::kF32;  // how the matrices are stored
  float scale = 0.0f;         // 0: 1 / sqrt(fan_in), which keeps activations of order 1
};

namespace detail {

// splitmix64: a tiny, portable generator; good enough for random weights.
class WeightNoise {
 public:
  explicit WeightNoise(uint64_t seed) : state_(seed) {}
  float uniform(float scale) {
    state_ += 0x9e3779b97f4a7c15ull;
    uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    const double u = static_cast<double>(z >> 11) * 0x1.0p-53;  // [0, 1)
    return static_cast<float>((2.0 * u - 1.0) * scale);
  }

 private:
  uint64_t state_;
};

}  // namespace detail

// Writes `config` as config.json and random weights matching it into `dir` (created if needed).
inline void write_synthetic_model(const std::filesystem::path& dir, const nlohmann::json& config,
                                  const SyntheticOptions& options = {}) {
  std::filesystem::create_directories(dir);
  const io::ModelConfig c = io::parse_model_config(config, (dir / "config.json").string());
  const ArchitectureSpec& spec = spec_for(c);
  detail::WeightNoise noise(options.seed);
  io::SafetensorsWriter writer;
  writer.set_metadata("format", "pt");

  const auto add = [&](const std::string& name, std::vector<int64_t> shape, float scale, float offset,
                       DType stored) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<float> values(static_cast<size_t>(n));
    for (auto& v : values) v = offset + noise.uniform(scale);
    writer.add(name, std::move(shape), values, stored);
  };
  const auto matrix = [&](const std::string& name, int64_t out, int64_t in) {
    const float scale = options.scale > 0 ? options.scale : 1.0f / std::sqrt(static_cast<float>(in));
    if (spec.conv1d) {
      add(name, {in, out}, scale, 0.0f, options.dtype);
    } else {
      add(name, {out, in}, scale, 0.0f, options.dtype);
    }
  };
  const auto vec = [&](const std::string& name, int64_t n, float offset) {
    add(name, {n}, 0.1f, offset, options.dtype);
  };
  const auto norm = [&](const std::string& prefix) {
    vec(prefix + ".weight", c.hidden_size, 1.0f);
    if (spec.norm == NormKind::kLayer) vec(prefix + ".bias", c.hidden_size, 0.0f);
  };

  const std::string body(spec.base_prefix);
  const int64_t h = c.hidden_size, qd = c.q_dim(), kv = c.kv_dim(), in = c.intermediate_size;
  add(body + std::string(spec.embed) + ".weight", {c.vocab_size, h}, 1.0f, 0.0f, options.dtype);
  if (spec.positions == PositionKind::kLearned) {
    add(body + std::string(spec.position_embed) + ".weight", {c.max_position_embeddings, h}, 0.5f,
        0.0f, options.dtype);
  }
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = body + std::string(spec.layers) + "." + std::to_string(i) + ".";
    norm(p + std::string(spec.attn_norm));
    norm(p + std::string(spec.mlp_norm));
    if (!spec.qkv.empty()) {
      matrix(p + std::string(spec.qkv) + ".weight", qd + 2 * kv, h);
      vec(p + std::string(spec.qkv) + ".bias", qd + 2 * kv, 0.0f);
    } else {
      matrix(p + std::string(spec.q) + ".weight", qd, h);
      matrix(p + std::string(spec.k) + ".weight", kv, h);
      matrix(p + std::string(spec.v) + ".weight", kv, h);
      if (c.qkv_bias) {
        vec(p + std::string(spec.q) + ".bias", qd, 0.0f);
        vec(p + std::string(spec.k) + ".bias", kv, 0.0f);
        vec(p + std::string(spec.v) + ".bias", kv, 0.0f);
      }
    }
    matrix(p + std::string(spec.o) + ".weight", h, qd);
    if (c.o_bias) vec(p + std::string(spec.o) + ".bias", h, 0.0f);
    if (spec.mlp == MlpKind::kGated) {
      matrix(p + std::string(spec.gate) + ".weight", in, h);
      if (c.mlp_bias) vec(p + std::string(spec.gate) + ".bias", in, 0.0f);
    }
    matrix(p + std::string(spec.up) + ".weight", in, h);
    matrix(p + std::string(spec.down) + ".weight", h, in);
    if (c.mlp_bias) {
      vec(p + std::string(spec.up) + ".bias", in, 0.0f);
      vec(p + std::string(spec.down) + ".bias", h, 0.0f);
    }
  }
  norm(body + std::string(spec.final_norm));
  if (c.head == io::ModelHead::kSequenceClassification) {
    add(std::string(spec.score) + ".weight", {1, h}, 1.0f / std::sqrt(static_cast<float>(h)), 0.0f,
        options.dtype);
  } else if (!c.tie_word_embeddings) {
    add(std::string(spec.lm_head) + ".weight", {c.vocab_size, h},
        1.0f / std::sqrt(static_cast<float>(h)), 0.0f, options.dtype);
  }
  writer.write(dir / "model.safetensors");
  std::ofstream(dir / "config.json") << config.dump(2) << "\n";
}

}  // namespace genarm::model
