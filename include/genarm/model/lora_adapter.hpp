// LoraAdapter: a PEFT LoRA adapter (a folder with adapter_config.json and adapter_model.safetensors
// or adapter_model.bin) read against the config of the base model it adapts — per layer and per
// targeted projection the factors A (r, in) and B (out, r) and the scale s, applied unmerged by the
// Transformer: y = W x + s * B (A x) (LoRA, Hu et al. 2021, https://arxiv.org/abs/2106.09685).
// The base weights are not touched: any number of adapters share one TransformerWeights, each
// costing its own factors' bytes only (see Transformer::with_adapter and BatchItem::adapter).
// adapter_config.json is read as PEFT's LoraConfig is (peft/tuners/lora/config.py and model.py):
//   r, lora_alpha           s = lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora
//   target_modules          a list (a module name, or its suffix after a '.': "q_proj" targets
//                           "model.layers.0.self_attn.q_proj"), a string (a regular expression the
//                           whole module name must match), "all-linear", or null (PEFT's defaults:
//                           q_proj and v_proj for Llama, c_attn for GPT-2)
//   exclude_modules, layers_to_transform, layers_pattern   as PEFT's check_target_module_exists
//   rank_pattern, alpha_pattern   per-module r and lora_alpha: the first key K (a regular
//                           expression) with a match of "(.*\.)?(K)" over the whole module name
//   fan_in_fan_out          GPT-2's Conv1D modules (c_attn, c_proj, c_fc) store W as (in, out);
//                           PEFT forces the flag on for them and off for nn.Linear, and the factors
//                           are (r, in) and (out, r) either way, so it changes nothing at run time
// Tensor names: "base_model.model.<module>.lora_A.weight" (PEFT's saved layout), with or without
// the "base_model.model." prefix and with or without the ".default" adapter name. GPT-2's fused
// c_attn has one A and a (3 * hidden, r) B whose row blocks adapt q, k and v.
// Refused with an Error naming the file and key or tensor: DoRA (use_dora, lora_magnitude_vector),
// modules_to_save, LoRA on embeddings or the output head, bias other than "none", lora_bias,
// target_parameters, trainable tokens, layer replication, QALoRA, aLoRA, tensors of the wrong
// shape for the base, tensors no targeted module explains, targeted modules without tensors.
// Ownership: views A (and B as stored) inside the memory-mapped adapter file, kept alive (copies
// when misaligned); owns B transposed to float32 (the run-time layout).
// Thread-safety: immutable after load, thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "genarm/core/compiled.hpp"
#include "genarm/core/error.hpp"
#include "genarm/io/model_config.hpp"
#include "genarm/model/weight_matrix.hpp"

namespace genarm::model {

// The projections of a layer a LoRA adapter can adapt (GPT-2's c_attn is q, k and v together).
enum class LoraTarget : int { kQ, kK, kV, kO, kGate, kUp, kDown };
inline constexpr size_t kLoraTargets = 7;

// The factors of one adapted projection: its output gains s * B (A x).
struct LoraFactors {
  WeightMatrix a;      // (r, in) lora_A.weight
  WeightMatrix b;      // (out, r) lora_B.weight (GPT-2 c_attn: the rows of q, k or v), as stored
  // (r, out) B transposed to float32: the run-time product adds s u_k B[:, k] for k = 0..r-1 as
  // r contiguous axpys per row (u = A x), cheaper than `out` dot products of length r.
  std::shared_ptr<const std::vector<float>> b_t;
  float scale = 0.0f;  // lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora
  double alpha = 0.0;  // this module's lora_alpha (alpha_pattern or lora_alpha)

  bool empty() const { return a.empty(); }
  int64_t rank() const { return a.rows(); }
};

// adapter_config.json as PEFT's LoraConfig reads it (the settings genarm uses).
struct LoraConfig {
  std::string origin;                   // the file
  std::string base_model_name_or_path;  // empty when absent
  std::string task_type;                // CAUSAL_LM, SEQ_CLS, ... (informative)
  int64_t r = 8;
  double lora_alpha = 8.0;
  bool use_rslora = false;
  bool fan_in_fan_out = false;
  // target_modules: a regex (full match), "all-linear", or names (exact or '.'-suffix).
  std::optional<std::string> target_regex;
  bool target_all_linear = false;
  bool target_defaults = false;  // target_modules was null: PEFT's per-architecture defaults
  std::vector<std::string> target_names;
  std::optional<std::string> exclude_regex;
  std::vector<std::string> exclude_names;
  std::vector<int64_t> layers_to_transform;  // empty: every layer
  std::vector<std::string> layers_pattern;
  std::vector<std::pair<std::string, int64_t>> rank_pattern;  // in file order (first match wins)
  std::vector<std::pair<std::string, double>> alpha_pattern;
};

// Reads and checks adapter_config.json of `dir` (Error naming the file and key).
LoraConfig read_lora_config(const std::filesystem::path& dir);

// True when `dir` is a PEFT adapter folder (holds adapter_config.json).
inline bool is_adapter_folder(const std::filesystem::path& dir) {
  std::error_code ec;
  return std::filesystem::is_regular_file(dir / "adapter_config.json", ec);
}

// The adapter's own base: base_model_name_or_path when it names an existing local folder (as
// given, or relative to the adapter folder), else nothing (a Hub id the caller must resolve).
std::optional<std::filesystem::path> adapter_base_folder(const std::filesystem::path& dir);

class LoraAdapter {
 public:
  // Reads the adapter in `dir` for a base with config `base` (`base_name` names it in messages).
  static std::shared_ptr<const LoraAdapter> load(const std::filesystem::path& dir, const io::ModelConfig& base,
                                                 const std::string& base_name);

  const LoraConfig& config() const { return config_; }
  const std::string& name() const { return name_; }      // the folder's name
  const std::string& origin() const { return origin_; }  // the weights file

  // The factors of projection `target` of layer `layer` (empty when not adapted).
  const LoraFactors& factors(int64_t layer, LoraTarget target) const {
    return layers_[static_cast<size_t>(layer)][static_cast<size_t>(target)];
  }
  // The adapted modules' names in the base ("model.layers.0.self_attn.q_proj"), in layer order.
  const std::vector<std::string>& modules() const { return modules_; }
  // True when the adapter was read for a base of this shape (same family and dimensions).
  bool fits(const io::ModelConfig& c) const;
  int64_t max_rank() const { return max_rank_; }
  int64_t parameters() const { return parameters_; }  // elements of every A and B
  size_t bytes() const { return bytes_; }              // bytes of every A and B as kept

 private:
  LoraAdapter() = default;

  LoraConfig config_;
  std::string name_, origin_;
  std::vector<std::array<LoraFactors, kLoraTargets>> layers_;  // (num_hidden_layers)
  std::vector<std::string> modules_;
  io::ModelFamily family_ = io::ModelFamily::kLlama;
  int64_t num_layers_ = 0, hidden_ = 0, q_dim_ = 0, kv_dim_ = 0, intermediate_ = 0;
  int64_t max_rank_ = 0, parameters_ = 0;
  size_t bytes_ = 0;
};

}  // namespace genarm::model

#if defined(GENARM_HEADER_ONLY)
#include "genarm/model/lora_adapter-inl.hpp"
#endif
