// Out-of-line definitions of lora_adapter.hpp (see core/compiled.hpp): adapter_config.json, PEFT's
// module matching, and the checked reading of the factors.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <regex>
#include <set>

#include "genarm/io/checkpoint.hpp"
#include "genarm/io/json.hpp"
#include "genarm/model/architecture.hpp"
#include "genarm/model/lora_adapter.hpp"

namespace genarm::model {

namespace detail {

// A regular expression from adapter_config.json (Python `re` syntax; genarm compiles it as
// ECMAScript, which agrees on the constructs module patterns use). Error naming the key if it
// does not compile.
inline std::regex lora_regex(const io::JsonView& where, const std::string& pattern) {
  try {
    return std::regex(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    where.fail("'", pattern, "' is not a regular expression genarm can compile (", e.what(), ")");
  }
}

inline std::vector<std::string> lora_string_list(const io::JsonView& v) {
  if (!v.is_array()) v.type_error("a list of module names");
  std::vector<std::string> out;
  for (size_t i = 0; i < v.size(); ++i) out.push_back(v.at(i).as_string());
  return out;
}

// One module of the base a LoRA adapter may name, as transformers' named_modules() calls it.
struct LoraModule {
  std::string name;     // "model.layers.0.self_attn.q_proj"
  int64_t layer = -1;   // -1: not a projection of a layer
  bool qkv = false;     // GPT-2's fused c_attn (q, k and v)
  LoraTarget target = LoraTarget::kQ;
  int64_t in = 0, out = 0;  // nn.Linear in / out features
  std::string refusal;  // non-projection modules: why an adapter on it is refused
};

inline std::vector<LoraModule> lora_modules(const io::ModelConfig& c) {
  const ArchitectureSpec& spec = spec_for(c);
  const std::string body(spec.base_prefix);
  const int64_t h = c.hidden_size, qd = c.q_dim(), kv = c.kv_dim(), in = c.intermediate_size;
  std::vector<LoraModule> out;
  const auto refused = [&](std::string name, std::string why) {
    LoraModule m;
    m.name = std::move(name);
    m.refusal = std::move(why);
    out.push_back(std::move(m));
  };
  const std::string embedding = "an embedding: LoRA on embeddings (lora_embedding_A/B) is not supported";
  refused(body + std::string(spec.embed), embedding);
  if (spec.positions == PositionKind::kLearned) refused(body + std::string(spec.position_embed), embedding);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = body + std::string(spec.layers) + "." + std::to_string(i) + ".";
    const auto add = [&](std::string_view suffix, LoraTarget t, int64_t fan_in, int64_t fan_out, bool qkv) {
      LoraModule m;
      m.name = p + std::string(suffix);
      m.layer = i;
      m.qkv = qkv;
      m.target = t;
      m.in = fan_in;
      m.out = fan_out;
      out.push_back(std::move(m));
    };
    if (!spec.qkv.empty()) {
      add(spec.qkv, LoraTarget::kQ, h, qd + 2 * kv, true);
    } else {
      add(spec.q, LoraTarget::kQ, h, qd, false);
      add(spec.k, LoraTarget::kK, h, kv, false);
      add(spec.v, LoraTarget::kV, h, kv, false);
    }
    add(spec.o, LoraTarget::kO, qd, h, false);
    if (spec.mlp == MlpKind::kGated) add(spec.gate, LoraTarget::kGate, h, in, false);
    add(spec.up, LoraTarget::kUp, h, in, false);
    add(spec.down, LoraTarget::kDown, in, h, false);
    refused(p + std::string(spec.attn_norm), "a norm: LoRA adapts linear layers only");
    refused(p + std::string(spec.mlp_norm), "a norm: LoRA adapts linear layers only");
  }
  refused(body + std::string(spec.final_norm), "a norm: LoRA adapts linear layers only");
  if (c.head == io::ModelHead::kSequenceClassification) {
    refused(std::string(spec.score), "the score head: LoRA on the output head is not supported");
  } else {
    refused(std::string(spec.lm_head), "the output head: LoRA on lm_head is not supported");
  }
  return out;
}

inline bool ends_with_module(const std::string& key, const std::string& target) {
  return key.size() > target.size() && key.compare(key.size() - target.size(), target.size(), target) == 0 &&
         key[key.size() - target.size() - 1] == '.';
}

// PEFT's check_target_module_exists (peft/tuners/tuners_utils.py) for one module name.
struct LoraMatcher {
  const LoraConfig& c;
  std::optional<std::regex> target, exclude;
  std::vector<std::regex> layers_patterns;  // ".*?\.<pattern>\.(\d+)\..*"
  std::vector<std::pair<std::regex, int64_t>> ranks;
  std::vector<std::pair<std::regex, double>> alphas;

  explicit LoraMatcher(const LoraConfig& config) : c(config) {
    const nlohmann::json none;
    const io::JsonView where(none, c.origin);
    if (c.target_regex) target = lora_regex(where, *c.target_regex);
    if (c.exclude_regex) exclude = lora_regex(where, *c.exclude_regex);
    for (const auto& p : c.layers_pattern) layers_patterns.push_back(lora_regex(where, ".*?\\." + p + "\\.(\\d+)\\..*"));
    for (const auto& [key, r] : c.rank_pattern) ranks.emplace_back(lora_regex(where, "(.*\\.)?(" + key + ")"), r);
    for (const auto& [key, a] : c.alpha_pattern) alphas.emplace_back(lora_regex(where, "(.*\\.)?(" + key + ")"), a);
  }

  bool excluded(const std::string& key) const {
    if (exclude) return std::regex_match(key, *exclude);
    for (const auto& e : c.exclude_names) {
      if (key == e || ends_with_module(key, e)) return true;
    }
    return false;
  }

  // `all_linear`: the names "all-linear" stands for (every projection).
  bool targeted(const std::string& key, const std::vector<std::string>& names) const {
    if (excluded(key)) return false;
    if (target) return std::regex_match(key, *target);
    bool found = std::find(names.begin(), names.end(), key) != names.end();
    if (found) return true;
    for (const auto& t : names) found = found || ends_with_module(key, t);
    if (!found || c.layers_to_transform.empty()) return found;
    // The layer index: the first numbered segment, or the one after a layers_pattern.
    std::smatch m;
    std::optional<int64_t> index;
    if (layers_patterns.empty()) {
      static const std::regex first(".*?\\.[^.]*\\.(\\d+)\\..*");
      if (std::regex_match(key, m, first)) index = std::stoll(m[1].str());
    } else {
      for (const auto& p : layers_patterns) {
        if (std::regex_match(key, m, p)) {
          index = std::stoll(m[1].str());
          break;
        }
      }
    }
    if (!index) return false;
    return std::find(c.layers_to_transform.begin(), c.layers_to_transform.end(), *index) !=
           c.layers_to_transform.end();
  }

  // peft.utils.other.get_pattern_key: the first pattern whose "(.*\.)?(K)$" matches the name.
  int64_t rank(const std::string& key) const {
    for (const auto& [re, r] : ranks) {
      if (std::regex_match(key, re)) return r;
    }
    return c.r;
  }
  double alpha(const std::string& key) const {
    for (const auto& [re, a] : alphas) {
      if (std::regex_match(key, re)) return a;
    }
    return c.lora_alpha;
  }
};

}  // namespace detail

GENARM_INLINE LoraConfig read_lora_config(const std::filesystem::path& dir) {
  const std::filesystem::path file = dir / "adapter_config.json";
  const nlohmann::json raw = io::read_json_file(file);
  const io::JsonView root(raw, file.string());
  root.expect_object();
  LoraConfig c;
  c.origin = file.string();
  if (const auto v = root.find("peft_type")) {
    const std::string type = v->as_string();
    if (type != "LORA") v->unsupported("peft_type '", type, "' is not supported: genarm applies LoRA adapters (LORA)");
  }
  c.base_model_name_or_path = root.get_string("base_model_name_or_path", "");
  c.task_type = root.get_string("task_type", "");
  c.r = root.get_int("r", 8, 1, INT64_C(1) << 20);
  c.lora_alpha = root.get_number("lora_alpha", 8.0);
  if (!std::isfinite(c.lora_alpha)) root.at("lora_alpha").type_error("a finite number");
  c.use_rslora = root.get_bool("use_rslora", false);
  c.fan_in_fan_out = root.get_bool("fan_in_fan_out", false);

  // Settings that change what the adapter computes beyond y = W x + s B A x.
  if (root.get_bool("use_dora", false)) {
    root.at("use_dora").unsupported("DoRA (use_dora: true) is not supported: genarm applies plain LoRA");
  }
  if (const auto v = root.find("bias")) {
    const std::string bias = v->as_string();
    if (bias != "none") {
      v->unsupported("bias '", bias, "' is not supported: genarm applies LoRA adapters trained with bias \"none\"");
    }
  }
  if (root.get_bool("lora_bias", false)) {
    root.at("lora_bias").unsupported("lora_bias: true (a bias on lora_B) is not supported");
  }
  if (root.get_bool("use_qalora", false)) root.at("use_qalora").unsupported("QALoRA (use_qalora: true) is not supported");
  const auto refuse_non_empty = [&](const char* key, const char* what) {
    const auto v = root.find(key);
    if (!v) return;
    if ((v->is_array() || v->is_object()) && v->json().empty()) return;
    v->unsupported(what, " is not supported: genarm applies LoRA factors only (got ", io::describe_json(v->json()), ")");
  };
  refuse_non_empty("modules_to_save", "modules_to_save (whole modules saved beside the LoRA factors)");
  refuse_non_empty("target_parameters", "target_parameters (LoRA on raw parameters)");
  refuse_non_empty("trainable_token_indices", "trainable_token_indices (trainable embedding rows)");
  refuse_non_empty("layer_replication", "layer_replication");
  refuse_non_empty("alora_invocation_tokens", "activated LoRA (alora_invocation_tokens)");

  if (const auto v = root.find("target_modules")) {
    if (v->is_string()) {
      const std::string t = v->as_string();
      std::string lower = t;
      std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
      if (lower == "all-linear") {
        c.target_all_linear = true;
      } else {
        (void)detail::lora_regex(*v, t);
        c.target_regex = t;
      }
    } else {
      c.target_names = detail::lora_string_list(*v);
    }
  } else {
    c.target_defaults = true;
  }
  if (const auto v = root.find("exclude_modules")) {
    if (v->is_string()) {
      c.exclude_regex = v->as_string();
      (void)detail::lora_regex(*v, *c.exclude_regex);
    } else {
      c.exclude_names = detail::lora_string_list(*v);
    }
  }
  if (const auto v = root.find("layers_to_transform")) {
    if (v->is_array()) {
      for (size_t i = 0; i < v->size(); ++i) c.layers_to_transform.push_back(v->at(i).as_int(0, INT32_MAX));
    } else {
      c.layers_to_transform.push_back(v->as_int(0, INT32_MAX));
    }
  }
  if (const auto v = root.find("layers_pattern")) {
    if (v->is_string()) {
      c.layers_pattern.push_back(v->as_string());
    } else {
      c.layers_pattern = detail::lora_string_list(*v);
    }
    for (const auto& p : c.layers_pattern) (void)detail::lora_regex(*v, ".*?\\." + p + "\\.(\\d+)\\..*");
  }
  if (const auto v = root.find("rank_pattern")) {
    v->for_each_member([&](const std::string& key, const io::JsonView& value) {
      (void)detail::lora_regex(value, "(.*\\.)?(" + key + ")");
      c.rank_pattern.emplace_back(key, value.as_int(1, INT64_C(1) << 20));
    });
  }
  if (const auto v = root.find("alpha_pattern")) {
    v->for_each_member([&](const std::string& key, const io::JsonView& value) {
      (void)detail::lora_regex(value, "(.*\\.)?(" + key + ")");
      const double a = value.as_number();
      if (!std::isfinite(a)) value.type_error("a finite number");
      c.alpha_pattern.emplace_back(key, a);
    });
  }
  return c;
}

GENARM_INLINE std::optional<std::filesystem::path> adapter_base_folder(const std::filesystem::path& dir) {
  const LoraConfig c = read_lora_config(dir);
  if (c.base_model_name_or_path.empty()) return std::nullopt;
  const std::filesystem::path p(c.base_model_name_or_path);
  std::error_code ec;
  if (std::filesystem::is_directory(p, ec)) return p;
  if (p.is_relative() && std::filesystem::is_directory(dir / p, ec)) return dir / p;
  return std::nullopt;
}

GENARM_INLINE bool LoraAdapter::fits(const io::ModelConfig& c) const {
  return c.family == family_ && c.num_hidden_layers == num_layers_ && c.hidden_size == hidden_ &&
         c.q_dim() == q_dim_ && c.kv_dim() == kv_dim_ && c.intermediate_size == intermediate_;
}

GENARM_INLINE std::shared_ptr<const LoraAdapter> LoraAdapter::load(const std::filesystem::path& dir,
                                                                   const io::ModelConfig& base,
                                                                   const std::string& base_name) {
  std::shared_ptr<LoraAdapter> a(new LoraAdapter());
  a->config_ = read_lora_config(dir);
  const LoraConfig& c = a->config_;
  a->name_ = dir.filename().string();
  if (a->name_.empty()) a->name_ = dir.parent_path().filename().string();
  a->family_ = base.family;
  a->num_layers_ = base.num_hidden_layers;
  a->hidden_ = base.hidden_size;
  a->q_dim_ = base.q_dim();
  a->kv_dim_ = base.kv_dim();
  a->intermediate_ = base.intermediate_size;
  a->layers_.resize(static_cast<size_t>(base.num_hidden_layers));

  const std::vector<detail::LoraModule> modules = detail::lora_modules(base);
  // The names a list, "all-linear" or the defaults stand for.
  std::vector<std::string> names = c.target_names;
  const ArchitectureSpec& spec = spec_for(base);
  const auto leaf = [](std::string_view s) { return std::string(s.substr(s.rfind('.') + 1)); };
  if (c.target_all_linear) {
    for (const auto& m : modules) {
      if (m.layer >= 0) names.push_back(leaf(m.name));
    }
  } else if (c.target_defaults) {
    // PEFT's TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING.
    if (base.family == io::ModelFamily::kGpt2) {
      names = {leaf(spec.qkv)};
    } else {
      names = {leaf(spec.q), leaf(spec.v)};
    }
  }
  const detail::LoraMatcher matcher(c);

  const io::Checkpoint ckpt = io::Checkpoint::open(dir, io::kAdapterFiles);
  a->origin_ = ckpt.origin();
  auto mappings = ckpt.mappings();
  const auto keepalive =
      std::make_shared<std::vector<std::shared_ptr<const io::MappedFile>>>(std::move(mappings));
  std::set<std::string> used;

  // The one tensor of `module` named `factor` (lora_A / lora_B), under any of PEFT's spellings.
  const auto find_factor = [&](const std::string& module, const char* factor) -> const io::TensorView& {
    const io::TensorView* found = nullptr;
    std::string found_name;
    for (const char* prefix : {"base_model.model.", ""}) {
      for (const char* adapter_name : {"", ".default"}) {
        const std::string name = std::string(prefix) + module + "." + factor + adapter_name + ".weight";
        const io::TensorView* t = ckpt.find(name);
        if (t == nullptr) continue;
        if (found != nullptr) {
          fail(ErrorCategory::kFormat, ckpt.origin(), ": tensors '", found_name, "' and '", name,
               "' are the same LoRA factor");
        }
        found = t;
        found_name = name;
      }
    }
    if (found == nullptr) {
      fail(ErrorCategory::kFormat, ckpt.origin(), ": missing tensor 'base_model.model.", module, ".", factor,
           ".weight' (", c.origin, " targets module ", module, ")");
    }
    if (!is_weight_dtype(found->dtype)) {
      fail(ErrorCategory::kUnsupported, found->origin, ": tensor '", found_name, "' has dtype ",
           dtype_name(found->dtype), "; LoRA factors must be F32, F16 or BF16");
    }
    used.insert(found_name);
    return *found;
  };
  // Rows [row0, row0 + rows) of a (.., cols) tensor, viewed in place when aligned.
  const auto rows_of = [&](const io::TensorView& t, int64_t row0, int64_t rows, int64_t cols) {
    const size_t element = dtype_size(t.dtype);
    const std::byte* p = t.bytes.data() + static_cast<size_t>(row0 * cols) * element;
    const size_t n = static_cast<size_t>(rows * cols) * element;
    if (reinterpret_cast<uintptr_t>(p) % element != 0) {
      LargePageBuffer copy(n);
      std::memcpy(copy.data(), p, n);
      return WeightMatrix::owned(t.dtype, rows, cols, std::move(copy));
    }
    return WeightMatrix::view(t.dtype, rows, cols, p, keepalive);
  };
  const auto check_shape = [&](const io::TensorView& t, const std::string& module, const char* factor,
                               std::vector<int64_t> want, int64_t r, const std::string& dims) {
    if (t.shape == want) return;
    io::TensorView expected;
    expected.shape = want;
    fail(ErrorCategory::kFormat, t.origin, ": tensor '", t.name, "' has shape ", t.shape_string(), " but ", c.origin,
         " (r = ", r, " for ", module, ") and the base ", base_name, " (", dims, ") imply ", expected.shape_string(),
         " for ", factor);
  };

  for (const auto& m : modules) {
    if (!matcher.targeted(m.name, names)) continue;
    if (m.layer < 0) {
      fail(ErrorCategory::kUnsupported, c.origin, ": target_modules matches '", m.name, "', ", m.refusal);
    }
    const int64_t r = matcher.rank(m.name);
    const double alpha = matcher.alpha(m.name);
    const io::TensorView& ta = find_factor(m.name, "lora_A");
    const io::TensorView& tb = find_factor(m.name, "lora_B");
    const std::string dims = "in_features " + std::to_string(m.in) + ", out_features " + std::to_string(m.out);
    check_shape(ta, m.name, "lora_A (r, in_features)", {r, m.in}, r, dims);
    check_shape(tb, m.name, "lora_B (out_features, r)", {m.out, r}, r, dims);
    const float scale = static_cast<float>(c.use_rslora ? alpha / std::sqrt(static_cast<double>(r))
                                                        : alpha / static_cast<double>(r));
    auto& layer = a->layers_[static_cast<size_t>(m.layer)];
    const WeightMatrix A = rows_of(ta, 0, r, m.in);
    const auto set = [&](LoraTarget t, int64_t row0, int64_t rows) {
      LoraFactors& f = layer[static_cast<size_t>(t)];
      f.a = A;
      f.b = rows_of(tb, row0, rows, r);
      auto bt = std::make_shared<std::vector<float>>(static_cast<size_t>(r * rows));
      std::vector<float> row(static_cast<size_t>(r));
      for (int64_t o = 0; o < rows; ++o) {
        f.b.row(o, row.data());
        for (int64_t k = 0; k < r; ++k) (*bt)[static_cast<size_t>(k * rows + o)] = row[static_cast<size_t>(k)];
      }
      f.b_t = std::move(bt);
      f.scale = scale;
      f.alpha = alpha;
      a->bytes_ += static_cast<size_t>(r * rows) * sizeof(float);
    };
    if (m.qkv) {
      const int64_t qd = base.q_dim(), kv = base.kv_dim();
      set(LoraTarget::kQ, 0, qd);
      set(LoraTarget::kK, qd, kv);
      set(LoraTarget::kV, qd + kv, kv);
    } else {
      set(m.target, 0, m.out);
    }
    a->modules_.push_back(m.name);
    a->max_rank_ = std::max(a->max_rank_, r);
    a->parameters_ += r * (m.in + m.out);
    a->bytes_ += ta.bytes.size();
  }
  if (a->modules_.empty()) {
    std::string projections;
    for (const auto& m : modules) {
      if (m.layer == 0) projections += (projections.empty() ? "" : ", ") + m.name;
    }
    fail(ErrorCategory::kConfig, c.origin, ": target_modules matches no linear layer of the base ", base_name, " (",
         base.architecture, "; layer 0 has ", projections, ")");
  }
  for (const auto& name : ckpt.names()) {
    if (used.count(name)) continue;
    const auto has = [&](const char* s) { return name.find(s) != std::string::npos; };
    const char* why = has("lora_embedding_") ? "LoRA on embeddings is not supported"
                      : has("lora_magnitude_vector") ? "DoRA (a magnitude vector) is not supported"
                      : has(".lora_B") && has(".bias") ? "lora_bias (a bias on lora_B) is not supported"
                      : has("modules_to_save") || !has("lora_") ? "whole modules saved beside the LoRA factors "
                                                                  "(modules_to_save) are not supported"
                                                                : nullptr;
    if (why != nullptr) fail(ErrorCategory::kUnsupported, ckpt.origin(), ": tensor '", name, "': ", why);
    fail(ErrorCategory::kFormat, ckpt.origin(), ": tensor '", name, "' belongs to no module ", c.origin,
         " targets in the base ", base_name);
  }
  return a;
}

}  // namespace genarm::model
