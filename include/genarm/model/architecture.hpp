// ArchitectureSpec: how one model family names its tensors in a Hugging Face checkpoint, and which
// shared blocks it is made of. Adding an architecture whose blocks genarm already has (another
// Llama-like model) is a new config entry in io/model_config.hpp plus, if its names differ, a spec
// here — not a new forward pass.
// Thread-safety: constant data.
#pragma once

#include <string>
#include <string_view>

#include "genarm/io/model_config.hpp"

namespace genarm::model {

enum class NormKind { kRms, kLayer };          // RMSNorm (Llama) or LayerNorm with bias (GPT-2)
enum class PositionKind { kRotary, kLearned };  // RoPE or an absolute position table
enum class MlpKind { kGated, kPlain };          // act(gate(x)) * up(x) -> down, or act(up(x)) -> down

struct ArchitectureSpec {
  NormKind norm;
  PositionKind positions;
  MlpKind mlp;
  bool conv1d;  // projection weights stored [in, out] (GPT-2 Conv1D) instead of [out, in]

  // Whole-model tensors. `base_prefix` is the prefix of the transformer body ("model." for Llama,
  // "transformer." for GPT-2); the lm_head and score tensors sit outside it.
  std::string_view base_prefix;
  std::string_view embed;           // [vocab, hidden]
  std::string_view position_embed;  // [max_positions, hidden], learned positions only
  std::string_view final_norm;      // weight (and bias) prefix
  std::string_view lm_head;         // [vocab, hidden], absent when tied
  std::string_view score;           // [num_labels, hidden], sequence classification

  // Per-layer tensors, relative to "<base_prefix><layers>.<i>.".
  std::string_view layers;
  std::string_view attn_norm;
  std::string_view q, k, v;  // separate projections (prefix of .weight/.bias)
  std::string_view qkv;      // fused projection [hidden, 3 * hidden] (GPT-2 c_attn)
  std::string_view o;
  std::string_view mlp_norm;
  std::string_view gate, up, down;
};

inline constexpr ArchitectureSpec kLlamaSpec{
    .norm = NormKind::kRms,
    .positions = PositionKind::kRotary,
    .mlp = MlpKind::kGated,
    .conv1d = false,
    .base_prefix = "model.",
    .embed = "embed_tokens",
    .position_embed = "",
    .final_norm = "norm",
    .lm_head = "lm_head",
    .score = "score",
    .layers = "layers",
    .attn_norm = "input_layernorm",
    .q = "self_attn.q_proj",
    .k = "self_attn.k_proj",
    .v = "self_attn.v_proj",
    .qkv = "",
    .o = "self_attn.o_proj",
    .mlp_norm = "post_attention_layernorm",
    .gate = "mlp.gate_proj",
    .up = "mlp.up_proj",
    .down = "mlp.down_proj",
};

inline constexpr ArchitectureSpec kGpt2Spec{
    .norm = NormKind::kLayer,
    .positions = PositionKind::kLearned,
    .mlp = MlpKind::kPlain,
    .conv1d = true,
    .base_prefix = "transformer.",
    .embed = "wte",
    .position_embed = "wpe",
    .final_norm = "ln_f",
    .lm_head = "lm_head",
    .score = "score",
    .layers = "h",
    .attn_norm = "ln_1",
    .q = "",
    .k = "",
    .v = "",
    .qkv = "attn.c_attn",
    .o = "attn.c_proj",
    .mlp_norm = "ln_2",
    .gate = "",
    .up = "mlp.c_fc",
    .down = "mlp.c_proj",
};

inline const ArchitectureSpec& spec_for(const io::ModelConfig& config) {
  switch (config.family) {
    case io::ModelFamily::kGpt2: return kGpt2Spec;
    case io::ModelFamily::kLlama: break;
  }
  return kLlamaSpec;
}

// Buffers some checkpoints carry that are recomputed, never loaded (old GPT-2 attention masks,
// Llama rotary tables).
inline bool is_ignorable_tensor(std::string_view name) {
  const auto ends_with = [&](std::string_view s) {
    return name.size() >= s.size() && name.substr(name.size() - s.size()) == s;
  };
  return ends_with(".attn.bias") || ends_with(".attn.masked_bias") ||
         ends_with("rotary_emb.inv_freq");
}

}  // namespace genarm::model
