// Decoding methods by name, so that `generate --method`, `eval` and `demo` run the same code:
//   base                      the base model alone (model=DIR evaluates another policy, e.g. DPO)
//   genarm                    base guided by ARMs: arms=A/B, weights=0.5/0.5, beta=1
// A spec is "kind" or "kind:key=value,key=value"; list values are separated by '/'.
#pragma once

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "args.hpp"
#include "common.hpp"
#include "genarm/generate/generator.hpp"
#include "genarm/guidance/guided_model.hpp"
#include "genarm/model/transformer.hpp"
#include "genarm/tokenizer/tokenizer.hpp"

namespace genarm::cli {

struct MethodSpec {
  std::string text;               // as written
  std::string kind = "genarm";    // base | genarm
  std::string label;              // for tables; default: text
  std::string model;              // a different base (base only)
  std::vector<std::string> arms;  // genarm: empty = the command's --arm list
  std::vector<float> weights;
  float beta = 1.0f;
};

inline std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t pos = s.find(sep); pos != std::string::npos; pos = s.find(sep, start)) {
    out.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
  out.push_back(s.substr(start));
  return out;
}

// A readable name: "GenARM positive 0.5 + concise 0.5, beta 0.5" (bundled "toy-arm-" prefixes dropped).
inline std::string auto_label(const MethodSpec& m) {
  const auto short_name = [](std::string name) {
    name = std::filesystem::path(name).filename().string();
    for (const char* prefix : {"toy-arm-", "toy-"}) {
      if (name.rfind(prefix, 0) == 0) return name.substr(std::string(prefix).size());
    }
    return name;
  };
  const auto num = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return std::string(buf);
  };
  if (m.kind == "base") return m.model.empty() ? "base alone" : short_name(m.model) + " alone";
  std::string label = "GenARM";
  for (size_t i = 0; i < m.arms.size(); ++i) {
    label += (i ? " + " : " ") + short_name(m.arms[i]);
    if (i < m.weights.size()) label += " " + num(m.weights[i]);
  }
  if (m.arms.empty() && !m.weights.empty()) {
    label += " weights";
    for (size_t i = 0; i < m.weights.size(); ++i) label += (i ? "/" : " ") + num(m.weights[i]);
  }
  return label + ", beta " + num(m.beta);
}

inline MethodSpec parse_method(const std::string& text) {
  MethodSpec m;
  m.text = text;
  const auto colon = text.find(':');
  m.kind = text.substr(0, colon);
  if (m.kind != "base" && m.kind != "genarm") {
    fail(ErrorCategory::kInvalidArgument, "method '", text, "': unknown kind '", m.kind,
         "' (base, genarm)");
  }
  if (colon != std::string::npos) {
    for (const auto& item : split(text.substr(colon + 1), ',')) {
      const auto eq = item.find('=');
      if (eq == std::string::npos) fail(ErrorCategory::kInvalidArgument, "method '", text, "': '", item, "' is not key=value");
      const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
      const std::string where = "method '" + text + "' " + key;
      if (key == "label") {
        m.label = value;
      } else if (key == "model" && m.kind == "base") {
        m.model = value;
      } else if (key == "arms" && m.kind == "genarm") {
        m.arms = split(value, '/');
      } else if (key == "weights" && m.kind == "genarm") {
        for (const auto& w : split(value, '/')) m.weights.push_back(static_cast<float>(Args::parse_double(where, w)));
      } else if (key == "beta" && m.kind == "genarm") {
        m.beta = static_cast<float>(Args::parse_double(where, value));
      } else {
        fail(ErrorCategory::kInvalidArgument, "method '", text, "': unknown key '", key, "' for ", m.kind);
      }
    }
  }
  if (m.label.empty()) m.label = auto_label(m);
  return m;
}

// Loads each model folder once; everything that uses it shares the (memory-mapped) weights.
class ModelCache {
 public:
  const model::Transformer& model(const std::string& name) {
    const std::string key = resolve_model(name).string();
    auto it = models_.find(key);
    if (it == models_.end()) it = models_.emplace(key, model::Transformer::load(key)).first;
    return it->second;
  }
  const Tokenizer& tokenizer(const std::string& name) {
    const std::string key = resolve_model(name).string();
    auto it = tokenizers_.find(key);
    if (it == tokenizers_.end()) it = tokenizers_.emplace(key, Tokenizer::from_file(key)).first;
    return it->second;
  }
  GuidedModel::Part part(const std::string& name) {
    return GuidedModel::Part{resolve_model(name).string(), tokenizer(name), model(name)};
  }

 private:
  std::map<std::string, model::Transformer> models_;
  std::map<std::string, Tokenizer> tokenizers_;
};

// What every method of a command shares: the base, the default ARMs, sampling and limits.
struct MethodDefaults {
  std::string base = "toy-base";
  std::vector<std::string> arms;
  sampling::SamplerParams sampler;
  GenerationConfig generation;  // eos ids are filled per base model
  ThreadPool* pool = nullptr;
};

// Runs one method on prompts; keeps its policy and sampler between prompts.
class MethodRunner {
 public:
  MethodRunner(const MethodSpec& spec, ModelCache& cache, const MethodDefaults& defaults)
      : spec_(spec), defaults_(defaults) {
    std::vector<GuidedModel::Part> arms;
    if (spec.kind == "genarm") {
      const auto& names = spec.arms.empty() ? defaults.arms : spec.arms;
      if (names.empty()) fail(ErrorCategory::kInvalidArgument, "method '", spec.text, "': no ARM (give --arm or arms=...)");
      for (const auto& a : names) arms.push_back(cache.part(a));
    }
    model_ = std::make_unique<GuidedModel>(
        GuidedModel::assemble(cache.part(spec.model.empty() ? defaults.base : spec.model), std::move(arms)));
    policy_ = std::make_unique<GuidedPolicy<TransformerSource>>(
        model_->new_policy(Guidance{spec.weights, spec.beta}, defaults.pool));
    sampler_ = std::make_unique<sampling::Sampler>(defaults.sampler, model_->vocab_size());
    config_ = defaults.generation;
    config_.eos_token_ids = model_->eos_token_ids();
  }

  const Tokenizer& tokenizer() const { return model_->tokenizer(); }
  const MethodSpec& spec() const { return spec_; }

  GenerationResult run(const Prompts& prompts, uint64_t seed, const StreamCallback& on_text = {}) {
    sampler_->reseed(seed);
    return generate(*policy_, *sampler_, model_->tokenizer(), prompts, config_, on_text);
  }

 private:
  MethodSpec spec_;
  MethodDefaults defaults_;
  std::unique_ptr<GuidedModel> model_;
  std::unique_ptr<GuidedPolicy<TransformerSource>> policy_;
  std::unique_ptr<sampling::Sampler> sampler_;
  GenerationConfig config_;
};

}  // namespace genarm::cli
