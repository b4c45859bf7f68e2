// TransformerWeights: every weight of one checkpoint, loaded once and immutable afterwards.
// Large matrices stay inside the memory-mapped safetensors files (F32/F16/BF16, zero-copy); norms,
// biases and the rotary table are small and kept as float32 copies. Shapes are checked against
// config.json, and tensors the architecture does not use are an error (a checkpoint that does not
// match its config), except buffers that are always recomputed.
// Ownership: shares the checkpoint's mappings; hold it through std::shared_ptr<const ...>.
// Thread-safety: immutable, thread-safe.
#pragma once

#include <cmath>
#include <filesystem>
#include <memory>
#include <numbers>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "genarm/core/compiled.hpp"
#include "genarm/core/error.hpp"
#include "genarm/io/model_config.hpp"
#include "genarm/model/architecture.hpp"
#include "genarm/model/load_options.hpp"
#include "genarm/model/weight_matrix.hpp"

namespace genarm::io {
class Checkpoint;
}

namespace genarm::model {

struct NormWeights {
  std::vector<float> weight;  // (hidden)
  std::vector<float> bias;    // (hidden), LayerNorm only
};

struct LayerWeights {
  NormWeights attn_norm;
  WeightMatrix q;               // (num_attention_heads * head_dim, hidden)
  WeightMatrix k;               // (num_key_value_heads * head_dim, hidden)
  WeightMatrix v;               // (num_key_value_heads * head_dim, hidden)
  WeightMatrix o;               // (hidden, num_attention_heads * head_dim)
  std::vector<float> q_bias;    // (q_dim) or empty
  std::vector<float> k_bias;    // (kv_dim) or empty
  std::vector<float> v_bias;    // (kv_dim) or empty
  std::vector<float> o_bias;    // (hidden) or empty
  NormWeights mlp_norm;
  WeightMatrix gate;            // (intermediate, hidden), gated MLP only
  WeightMatrix up;              // (intermediate, hidden)
  WeightMatrix down;            // (hidden, intermediate)
  std::vector<float> gate_bias; // (intermediate) or empty
  std::vector<float> up_bias;   // (intermediate) or empty
  std::vector<float> down_bias; // (hidden) or empty
};

struct TransformerWeights {
  io::ModelConfig config;
  const ArchitectureSpec* spec = nullptr;
  WeightMatrix embed;           // (vocab_size, hidden)
  WeightMatrix position_embed;  // (max_position_embeddings, hidden), learned positions only
  std::vector<LayerWeights> layers;
  NormWeights final_norm;
  WeightMatrix lm_head;         // (vocab_size, hidden); the embedding itself when tied
  std::vector<float> score;     // (num_labels = 1, hidden), sequence classification only
  std::vector<float> rope_inv_freq;  // (head_dim / 2), rotary positions only
  size_t weight_bytes = 0;      // bytes of matrices read per decoded token (for bandwidth figures)
};

// Rotary inverse frequencies with the config's scaling (default, linear, llama3), as transformers
// computes them in modeling_rope_utils.
std::vector<float> rope_inverse_frequencies(const io::ModelConfig& c);

// Loads and checks the weights of `checkpoint` for `config`, kept as `options` says.
std::shared_ptr<const TransformerWeights> load_transformer_weights(const io::ModelConfig& config,
                                                                   const io::Checkpoint& checkpoint,
                                                                   const std::string& config_origin,
                                                                   const LoadOptions& options = {});

// Converts the matrices of `w` as `options.weights` says (see LoadOptions); recomputes weight_bytes.
void convert_weights(TransformerWeights& w, const LoadOptions& options);

}  // namespace genarm::model

#if defined(GENARM_HEADER_ONLY)
#include "genarm/model/transformer_weights-inl.hpp"
#endif
