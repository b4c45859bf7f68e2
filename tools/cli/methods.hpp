// Decoding methods by name, so that `generate --method`, `eval` and `demo` run the same code:
//   base        the base model alone (model=DIR evaluates another policy, e.g. a DPO model)
//   genarm      base guided by ARMs: arms=A/B, weights=0.5/0.5, beta=1
//   args        ARGS with a trajectory RM: rm=DIR, k=10, w=1.5; greedy unless sample=1
//   best-of-n   n=4 samples of the base (or of GenARM with arms=...), the best by reward=rm|arm|afinn
// A spec is "kind" or "kind:key=value,key=value"; list values are separated by '/'.
#pragma once

#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "args.hpp"
#include "common.hpp"
#include "genarm/eval/afinn.hpp"
#include "genarm/generate/best_of_n.hpp"
#include "genarm/generate/generator.hpp"
#include "genarm/guidance/args_policy.hpp"
#include "genarm/guidance/arm_reward.hpp"
#include "genarm/guidance/trajectory_reward.hpp"
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
  std::string rm;                 // args, best-of-n with reward=rm: empty = the command's --rm
  int k = 10;                     // args
  float w = 1.5f;                 // args
  bool sample = false;            // args: stochastic ARGS (softmax(score / T) over the k)
  int n = 4;                      // best-of-n
  std::string reward = "rm";      // best-of-n: rm | arm | afinn
  std::string reward_arm;         // best-of-n with reward=arm: empty = the first --arm
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
  if (m.kind == "args") {
    return std::string("ARGS ") + (m.sample ? "stochastic" : "greedy") + ", k " + std::to_string(m.k) + ", w " + num(m.w) +
           (m.rm.empty() ? "" : ", " + short_name(m.rm));
  }
  if (m.kind == "best-of-n") {
    std::string label = "best-of-" + std::to_string(m.n) + " by " + (m.reward == "rm" && !m.rm.empty() ? short_name(m.rm) : m.reward);
    if (!m.arms.empty()) label += " (GenARM samples, beta " + num(m.beta) + ")";
    return label;
  }
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
  if (m.kind != "base" && m.kind != "genarm" && m.kind != "args" && m.kind != "best-of-n") {
    fail(ErrorCategory::kInvalidArgument, "method '", text, "': unknown kind '", m.kind,
         "' (base, genarm, args, best-of-n)");
  }
  if (colon != std::string::npos) {
    for (const auto& item : split(text.substr(colon + 1), ',')) {
      const auto eq = item.find('=');
      if (eq == std::string::npos) fail(ErrorCategory::kInvalidArgument, "method '", text, "': '", item, "' is not key=value");
      const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
      const std::string where = "method '" + text + "' " + key;
      if (key == "label") {
        m.label = value;
      } else if (key == "model" && m.kind != "genarm") {
        m.model = value;
      } else if (key == "arms" && (m.kind == "genarm" || m.kind == "best-of-n")) {
        m.arms = split(value, '/');
      } else if (key == "weights" && (m.kind == "genarm" || m.kind == "best-of-n")) {
        for (const auto& w : split(value, '/')) m.weights.push_back(static_cast<float>(Args::parse_double(where, w)));
      } else if (key == "beta" && (m.kind == "genarm" || m.kind == "best-of-n")) {
        m.beta = static_cast<float>(Args::parse_double(where, value));
      } else if (key == "rm" && (m.kind == "args" || m.kind == "best-of-n")) {
        m.rm = value;
      } else if (key == "k" && m.kind == "args") {
        m.k = static_cast<int>(Args::parse_int(where, value, 1, 1 << 20));
      } else if (key == "w" && m.kind == "args") {
        m.w = static_cast<float>(Args::parse_double(where, value));
      } else if (key == "sample" && m.kind == "args") {
        m.sample = Args::parse_int(where, value, 0, 1) == 1;
      } else if (key == "n" && m.kind == "best-of-n") {
        m.n = static_cast<int>(Args::parse_int(where, value, 1, 1 << 16));
      } else if (key == "reward" && m.kind == "best-of-n") {
        if (value != "rm" && value != "arm" && value != "afinn") {
          fail(ErrorCategory::kInvalidArgument, where, ": '", value, "' is not one of rm, arm, afinn");
        }
        m.reward = value;
      } else if (key == "arm" && m.kind == "best-of-n") {
        m.reward_arm = value;
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
  std::string rm;                                // trajectory reward model for args / best-of-n
  std::optional<eval::AfinnScorer> afinn;        // for best-of-n with reward=afinn
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
    const bool guided = spec.kind == "genarm" || (spec.kind == "best-of-n" && !spec.arms.empty());
    if (guided) {
      const auto& names = spec.arms.empty() ? defaults.arms : spec.arms;
      if (names.empty()) fail(ErrorCategory::kInvalidArgument, "method '", spec.text, "': no ARM (give --arm or arms=...)");
      for (const auto& a : names) arms.push_back(cache.part(a));
    }
    model_ = std::make_unique<GuidedModel>(
        GuidedModel::assemble(cache.part(spec.model.empty() ? defaults.base : spec.model), std::move(arms)));
    policy_ = std::make_unique<GuidedPolicy<TransformerSource>>(
        model_->new_policy(guided ? Guidance{spec.weights, spec.beta} : Guidance{}, defaults.pool));
    sampling::SamplerParams sampler = defaults.sampler;
    if (spec.kind == "args" && !spec.sample) sampler.greedy = true;  // ARGS-greedy unless sample=1
    sampler_ = std::make_unique<sampling::Sampler>(sampler, model_->vocab_size());
    config_ = defaults.generation;
    config_.eos_token_ids = model_->eos_token_ids();

    const std::string rm = spec.rm.empty() ? defaults.rm : spec.rm;
    if (spec.kind == "args" || (spec.kind == "best-of-n" && spec.reward == "rm")) {
      if (rm.empty()) fail(ErrorCategory::kInvalidArgument, "method '", spec.text, "' needs a reward model (--rm DIR or rm=DIR)");
      check_tokenizer(cache.tokenizer(rm), rm);
    }
    if (spec.kind == "args") {
      TransformerSource base(model_->base());
      base.set_thread_pool(defaults.pool);
      args_ = std::make_unique<ArgsPolicy<TransformerSource>>(std::move(base), cache.model(rm), model_->vocab_size(),
                                                              ArgsParams{spec.k, spec.w});
      args_->set_thread_pool(defaults.pool);
    }
    if (spec.kind == "best-of-n") {
      if (spec.reward == "rm") {
        rm_ = std::make_unique<TrajectoryReward>(cache.model(rm));
        rm_->set_thread_pool(defaults.pool);
      } else if (spec.reward == "arm") {
        const std::string arm = !spec.reward_arm.empty() ? spec.reward_arm
                                : !defaults.arms.empty() ? defaults.arms[0]
                                                         : "";
        if (arm.empty()) fail(ErrorCategory::kInvalidArgument, "method '", spec.text, "': reward=arm needs arm=DIR or --arm");
        check_tokenizer(cache.tokenizer(arm), arm);
        judge_arm_ = std::make_unique<TransformerSource>(cache.model(arm));
        judge_arm_->set_thread_pool(defaults.pool);
      } else if (!defaults.afinn) {
        fail(ErrorCategory::kInvalidArgument, "method '", spec.text, "': reward=afinn needs the bundled AFINN data");
      }
    }
  }

  const Tokenizer& tokenizer() const { return model_->tokenizer(); }
  const MethodSpec& spec() const { return spec_; }

  GenerationResult run(const Prompts& prompts, uint64_t seed, const StreamCallback& on_text = {}) {
    sampler_->reseed(seed);
    if (args_) return generate(*args_, *sampler_, model_->tokenizer(), prompts, config_, on_text);
    if (spec_.kind == "best-of-n") {
      auto reward = [&](const Prompts& p, const GenerationResult& r) -> double {
        if (rm_) return (*rm_)(p.base, r.ids);
        if (judge_arm_) return r.ids.empty() ? 0.0 : arm_score(*judge_arm_, p.base, r.ids, model_->vocab_size()).reward;
        return defaults_.afinn->score(r.text);
      };
      return best_of_n(*policy_, *sampler_, model_->tokenizer(), prompts, config_, spec_.n, seed, reward, on_text).best;
    }
    return generate(*policy_, *sampler_, model_->tokenizer(), prompts, config_, on_text);
  }

 private:
  void check_tokenizer(const Tokenizer& other, const std::string& name) const {
    if (other.fingerprint() != model_->tokenizer().fingerprint()) {
      fail(ErrorCategory::kInvalidArgument, "the tokenizer of ", name, " differs from the base model's: the ",
           "reward model must read the same token ids");
    }
  }

  MethodSpec spec_;
  MethodDefaults defaults_;
  std::unique_ptr<GuidedModel> model_;
  std::unique_ptr<GuidedPolicy<TransformerSource>> policy_;
  std::unique_ptr<ArgsPolicy<TransformerSource>> args_;
  std::unique_ptr<TrajectoryReward> rm_;
  std::unique_ptr<TransformerSource> judge_arm_;
  std::unique_ptr<sampling::Sampler> sampler_;
  GenerationConfig config_;
};

}  // namespace genarm::cli
