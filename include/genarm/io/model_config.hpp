// ModelConfig: the hyper-parameters of a Hugging Face checkpoint, read from its config.json and
// normalised into one struct, whichever layout wrote it:
//   transformers 4.x: `rope_theta` at top level, `rope_scaling: {type|rope_type, factor, ...}` or
//                     null, `torch_dtype`;
//   transformers 5.x: `rope_parameters: {rope_type, rope_theta, ...}`, `dtype`.
// Field names follow Hugging Face's (hidden_size, num_key_value_heads, rope_theta). GPT-2's own
// names (n_embd, n_layer, ...) are mapped onto them. Unsupported architectures or options are
// reported as Error(kUnsupported) naming the key and value.
// Thread-safety: plain value type.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "genarm/core/error.hpp"
#include "genarm/io/json.hpp"

namespace genarm::io {

// The block structure a checkpoint uses (shared by the architectures listed in the README).
enum class ModelFamily {
  kLlama,  // RMSNorm, RoPE, gated MLP: Llama, Mistral, Qwen2
  kGpt2,   // LayerNorm, learned positions, plain MLP, fused Conv1D attention
};
// What sits on top of the final hidden state.
enum class ModelHead {
  kCausalLM,                // next-token logits over the vocabulary
  kSequenceClassification,  // num_labels scores of the last non-pad token (a trajectory reward model)
};
enum class Activation { kSilu, kGeluTanh, kGeluErf, kRelu };

struct RopeConfig {
  std::string type = "default";  // default | linear | llama3
  double theta = 10000.0;
  double factor = 1.0;                            // linear, llama3
  double low_freq_factor = 1.0;                   // llama3
  double high_freq_factor = 4.0;                  // llama3
  int64_t original_max_position_embeddings = 0;   // llama3
};

struct ModelConfig {
  std::string architecture;  // the HF class, e.g. "LlamaForCausalLM"
  std::string model_type;    // e.g. "llama", "mistral", "qwen2", "gpt2"
  ModelFamily family = ModelFamily::kLlama;
  ModelHead head = ModelHead::kCausalLM;

  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;
  int64_t intermediate_size = 0;
  int64_t max_position_embeddings = 0;
  double norm_eps = 1e-5;  // rms_norm_eps or layer_norm_epsilon
  Activation hidden_act = Activation::kSilu;
  RopeConfig rope;  // kLlama family only

  bool tie_word_embeddings = false;
  bool qkv_bias = false;     // q/k/v projections carry a bias (attention_bias; always for Qwen2)
  bool o_bias = false;       // o_proj carries a bias (attention_bias)
  bool mlp_bias = false;
  std::optional<int64_t> sliding_window;  // Mistral-style local attention, when enabled

  // GPT-2 attention scaling options.
  bool scale_attn_weights = true;
  bool scale_attn_by_inverse_layer_idx = false;

  std::vector<int32_t> eos_token_ids;
  std::optional<int32_t> bos_token_id;
  std::optional<int32_t> pad_token_id;
  int64_t num_labels = 1;  // kSequenceClassification
  std::string dtype;       // as declared (informational: each tensor's own dtype is used)

  int64_t kv_dim() const { return num_key_value_heads * head_dim; }
  int64_t q_dim() const { return num_attention_heads * head_dim; }
};

namespace detail {

struct ArchitectureName {
  std::string_view hf_class;
  std::string_view model_type;
  ModelFamily family;
  ModelHead head;
};

inline constexpr ArchitectureName kArchitectures[] = {
    {"LlamaForCausalLM", "llama", ModelFamily::kLlama, ModelHead::kCausalLM},
    {"MistralForCausalLM", "mistral", ModelFamily::kLlama, ModelHead::kCausalLM},
    {"Qwen2ForCausalLM", "qwen2", ModelFamily::kLlama, ModelHead::kCausalLM},
    {"GPT2LMHeadModel", "gpt2", ModelFamily::kGpt2, ModelHead::kCausalLM},
    {"LlamaForSequenceClassification", "llama", ModelFamily::kLlama, ModelHead::kSequenceClassification},
    {"MistralForSequenceClassification", "mistral", ModelFamily::kLlama, ModelHead::kSequenceClassification},
    {"Qwen2ForSequenceClassification", "qwen2", ModelFamily::kLlama, ModelHead::kSequenceClassification},
    {"GPT2ForSequenceClassification", "gpt2", ModelFamily::kGpt2, ModelHead::kSequenceClassification},
};

inline std::string supported_architectures() {
  std::string out;
  for (const auto& a : kArchitectures) out += (out.empty() ? "" : ", ") + std::string(a.hf_class);
  return out;
}

inline Activation parse_activation(const JsonView& v) {
  const std::string name = v.as_string();
  if (name == "silu" || name == "swish") return Activation::kSilu;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") return Activation::kGeluTanh;
  if (name == "gelu") return Activation::kGeluErf;
  if (name == "relu") return Activation::kRelu;
  v.unsupported("activation '", name, "' is not supported (silu, gelu, gelu_new, gelu_pytorch_tanh, relu)");
}

// A special-token id; negative ids (the original LLaMA conversion writes "pad_token_id": -1, and
// transformers loads it) match no token and are treated as absent.
inline std::optional<int32_t> token_id(const JsonView& v) {
  const int64_t id = v.as_int(INT32_MIN, INT32_MAX);
  if (id < 0) return std::nullopt;
  return static_cast<int32_t>(id);
}

inline std::vector<int32_t> parse_token_ids(const JsonView& v) {
  std::vector<int32_t> ids;
  if (v.is_null()) return ids;
  if (v.is_array()) {
    for (size_t i = 0; i < v.size(); ++i) {
      if (auto id = token_id(v.at(i))) ids.push_back(*id);
    }
  } else if (auto id = token_id(v)) {
    ids.push_back(*id);
  }
  return ids;
}

inline std::optional<int32_t> optional_token_id(const JsonView& root, std::string_view key) {
  auto v = root.find(key);
  if (!v) return std::nullopt;
  if (v->is_array()) {  // some configs list several; the first is the canonical one
    if (v->size() == 0) return std::nullopt;
    return token_id(v->at(size_t{0}));
  }
  return token_id(*v);
}

inline double positive_number(const JsonView& v) {
  const double x = v.as_number();
  if (!(x > 0) || !std::isfinite(x)) v.type_error("a positive number");
  return x;
}

// RoPE parameters from either layout (5.x rope_parameters; 4.x rope_theta + rope_scaling).
inline RopeConfig parse_rope(const JsonView& root) {
  RopeConfig rope;
  std::optional<JsonView> params = root.find("rope_parameters");
  if (params && params->is_object() && !params->has("rope_type") && !params->has("rope_theta")) {
    // transformers 5 may key rope_parameters by attention type (e.g. "full_attention").
    if (auto full = params->find("full_attention")) params = full;
  }
  std::optional<JsonView> scaling = root.find("rope_scaling");
  std::optional<JsonView> theta = root.find("rope_theta");
  if (params) {
    params->expect_object();
    if (auto t = params->find("rope_theta")) theta = t;
  }
  const std::optional<JsonView>& source = params ? params : scaling;
  if (source) {
    source->expect_object();
    const std::optional<JsonView> type_key = source->has("rope_type") ? source->find("rope_type") : source->find("type");
    const std::string type = type_key ? type_key->as_string() : "default";
    rope.type = type;
    if (type == "default") {
      // plain RoPE
    } else if (type == "linear" || type == "llama3") {
      rope.factor = positive_number(source->at("factor"));
      if (type == "llama3") {
        rope.low_freq_factor = source->at("low_freq_factor").as_number();
        rope.high_freq_factor = source->at("high_freq_factor").as_number();
        rope.original_max_position_embeddings =
            source->at("original_max_position_embeddings").as_int(1, INT64_C(1) << 40);
        if (!(rope.high_freq_factor > rope.low_freq_factor) || !(rope.low_freq_factor > 0)) {
          source->fail("llama3 rope scaling needs 0 < low_freq_factor < high_freq_factor, got ",
                       rope.low_freq_factor, " and ", rope.high_freq_factor);
        }
      }
    } else {
      type_key->unsupported("rope type '", type, "' is not supported (default, linear, llama3)");
    }
    if (const auto partial = source->find("partial_rotary_factor"); partial && partial->as_number() != 1.0) {
      partial->unsupported("partial rotary embeddings are not supported");
    }
  }
  if (theta) rope.theta = positive_number(*theta);
  return rope;
}

inline int64_t positive(const JsonView& root, std::string_view key) {
  return root.at(key).as_int(1, INT64_C(1) << 40);
}

inline void parse_llama_family(const JsonView& root, ModelConfig& c) {
  c.vocab_size = positive(root, "vocab_size");
  c.hidden_size = positive(root, "hidden_size");
  c.num_hidden_layers = positive(root, "num_hidden_layers");
  c.num_attention_heads = positive(root, "num_attention_heads");
  c.num_key_value_heads =
      root.has("num_key_value_heads") ? positive(root, "num_key_value_heads") : c.num_attention_heads;
  c.intermediate_size = positive(root, "intermediate_size");
  c.max_position_embeddings =
      root.has("max_position_embeddings") ? positive(root, "max_position_embeddings") : 2048;
  c.head_dim = root.has("head_dim") ? positive(root, "head_dim") : 0;
  if (c.head_dim == 0) {
    if (c.hidden_size % c.num_attention_heads != 0) {
      root.fail("hidden_size ", c.hidden_size, " is not divisible by num_attention_heads ",
                c.num_attention_heads, " and no head_dim is given");
    }
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  if (c.head_dim % 2 != 0) root.fail("rotary embeddings need an even head_dim, got ", c.head_dim);
  c.norm_eps = root.get_number("rms_norm_eps", 1e-6);
  c.hidden_act = root.has("hidden_act") ? parse_activation(root.at("hidden_act")) : Activation::kSilu;
  c.rope = parse_rope(root);
  c.tie_word_embeddings = root.get_bool("tie_word_embeddings", false);
  const bool attention_bias = root.get_bool("attention_bias", false);
  c.qkv_bias = attention_bias || c.model_type == "qwen2";
  c.o_bias = attention_bias;
  c.mlp_bias = root.get_bool("mlp_bias", false);
  // pretraining_tp only changes how transformers splits its matmuls, not the result: its type is
  // checked and its value ignored.
  (void)root.get_int("pretraining_tp", 1, 1);
  // Local attention as each config class defines it. Llama has none, whatever the file says.
  // MistralConfig(sliding_window=4096): an absent key means 4096, null disables it.
  // Qwen2: only with use_sliding_window, and only on layers >= max_window_layers (default 28), or
  // those transformers 5 lists as "sliding_attention" in layer_types.
  const bool has_window_key = root.json().contains("sliding_window");
  const auto window = [&] { return has_window_key ? positive(root, "sliding_window") : int64_t{4096}; };
  if (c.model_type == "mistral") {
    if (!has_window_key || root.has("sliding_window")) c.sliding_window = window();
  } else if (c.model_type == "qwen2" && root.get_bool("use_sliding_window", false) &&
             (!has_window_key || root.has("sliding_window"))) {
    int64_t sliding_layers = 0;
    std::optional<JsonView> source = root.find("layer_types");  // or max_window_layers
    if (source) {
      if (static_cast<int64_t>(source->size()) != c.num_hidden_layers) {
        source->fail(source->size(), " entries for num_hidden_layers ", c.num_hidden_layers);
      }
      for (size_t i = 0; i < source->size(); ++i) {
        if (source->at(i).as_string() == "sliding_attention") ++sliding_layers;
      }
    } else {
      source = root.find("max_window_layers");
      const int64_t full = source ? source->as_int(0, INT64_C(1) << 40) : 28;
      sliding_layers = std::max<int64_t>(0, c.num_hidden_layers - full);
    }
    if (sliding_layers == c.num_hidden_layers) {
      c.sliding_window = window();
    } else if (sliding_layers > 0) {
      source.value_or(root).unsupported(sliding_layers, " of ", c.num_hidden_layers,
                                        " layers use sliding-window attention and the others full attention; "
                                        "mixing them is not supported");
    }
  }
}

inline void parse_gpt2_family(const JsonView& root, ModelConfig& c) {
  c.vocab_size = positive(root, "vocab_size");
  c.hidden_size = positive(root, "n_embd");
  c.num_hidden_layers = positive(root, "n_layer");
  c.num_attention_heads = positive(root, "n_head");
  c.num_key_value_heads = c.num_attention_heads;
  if (c.hidden_size % c.num_attention_heads != 0) {
    root.fail("n_embd ", c.hidden_size, " is not divisible by n_head ", c.num_attention_heads);
  }
  c.head_dim = c.hidden_size / c.num_attention_heads;
  c.intermediate_size = root.has("n_inner") ? positive(root, "n_inner") : 4 * c.hidden_size;
  c.max_position_embeddings = positive(root, "n_positions");
  c.norm_eps = root.get_number("layer_norm_epsilon", 1e-5);
  c.hidden_act = root.has("activation_function") ? parse_activation(root.at("activation_function"))
                                                 : Activation::kGeluTanh;
  c.tie_word_embeddings = root.get_bool("tie_word_embeddings", true);
  c.qkv_bias = c.o_bias = c.mlp_bias = true;
  c.scale_attn_weights = root.get_bool("scale_attn_weights", true);
  c.scale_attn_by_inverse_layer_idx = root.get_bool("scale_attn_by_inverse_layer_idx", false);
  if (root.get_bool("add_cross_attention", false)) {
    root.at("add_cross_attention").unsupported("cross-attention is not supported");
  }
}

}  // namespace detail

// Parses a config.json already loaded as JSON. `origin` names it in errors.
inline ModelConfig parse_model_config(const nlohmann::json& json, const std::string& origin) {
  const JsonView root(json, origin);
  root.expect_object();
  ModelConfig c;
  c.model_type = root.get_string("model_type", "");
  if (auto archs = root.find("architectures")) {
    if (archs->size() != 1) archs->unsupported("expected exactly one architecture, got ", describe_json(archs->json()));
    c.architecture = archs->at(size_t{0}).as_string();
  }
  const detail::ArchitectureName* arch = nullptr;
  for (const auto& a : detail::kArchitectures) {
    const bool match = c.architecture.empty()
                           ? (a.model_type == c.model_type && a.head == ModelHead::kCausalLM)
                           : a.hf_class == c.architecture;
    if (match) arch = &a;
  }
  if (arch == nullptr) {
    root.unsupported("architecture '", c.architecture.empty() ? "model_type " + c.model_type : c.architecture,
                     "' is not supported (supported: ", detail::supported_architectures(), ")");
  }
  if (c.architecture.empty()) c.architecture = std::string(arch->hf_class);
  if (c.model_type.empty()) c.model_type = std::string(arch->model_type);
  c.family = arch->family;
  c.head = arch->head;
  c.dtype = root.has("dtype") ? root.at("dtype").as_string() : root.get_string("torch_dtype", "");

  if (c.family == ModelFamily::kLlama) {
    detail::parse_llama_family(root, c);
  } else {
    detail::parse_gpt2_family(root, c);
  }
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    root.fail("num_attention_heads ", c.num_attention_heads, " is not a multiple of num_key_value_heads ",
              c.num_key_value_heads);
  }
  if (!(c.norm_eps > 0) || !std::isfinite(c.norm_eps)) {
    root.fail("the normalisation epsilon must be a positive number, got ", c.norm_eps);
  }
  if (auto eos = root.find("eos_token_id")) c.eos_token_ids = detail::parse_token_ids(*eos);
  c.bos_token_id = detail::optional_token_id(root, "bos_token_id");
  c.pad_token_id = detail::optional_token_id(root, "pad_token_id");
  if (c.head == ModelHead::kSequenceClassification) {
    // transformers derives num_labels from id2label (default 2) unless num_labels is given.
    c.num_labels = 2;
    if (root.has("num_labels")) {
      c.num_labels = detail::positive(root, "num_labels");
    } else if (const auto labels = root.find("id2label")) {
      labels->expect_object();
      c.num_labels = static_cast<int64_t>(labels->json().size());
    }
    if (c.num_labels != 1) {
      root.unsupported(c.architecture, " with num_labels ", c.num_labels,
                       ": only num_labels = 1 (a scalar reward model) is supported");
    }
  }
  return c;
}

// Reads `config.json` from a model folder (or the file itself). Also merges the EOS ids of a
// `generation_config.json` next to it, as transformers' generate() does.
inline ModelConfig read_model_config(const std::filesystem::path& path) {
  const auto file = std::filesystem::is_directory(path) ? path / "config.json" : path;
  if (!std::filesystem::exists(file)) {
    fail(ErrorCategory::kIo, file.string(), ": no config.json (is this a Hugging Face model folder?)");
  }
  ModelConfig c = parse_model_config(read_json_file(file), file.string());
  const auto gen = file.parent_path() / "generation_config.json";
  if (std::filesystem::exists(gen)) {
    const nlohmann::json j = read_json_file(gen);
    const JsonView root(j, gen.string());
    if (root.is_object()) {
      if (auto eos = root.find("eos_token_id")) {
        for (int32_t id : detail::parse_token_ids(*eos)) {
          if (std::find(c.eos_token_ids.begin(), c.eos_token_ids.end(), id) == c.eos_token_ids.end()) {
            c.eos_token_ids.push_back(id);
          }
        }
      }
    }
  }
  return c;
}

}  // namespace genarm::io
