// Decoding methods by name, so that `generate --method`, `eval` and `demo` run the same code:
//   base        the base model alone (model=DIR evaluates another policy, e.g. a DPO model)
//   genarm      base guided by ARMs: arms=A/B, weights=0.5/0.5, beta=1
//   args        ARGS with a trajectory RM: rm=DIR, k=10, w=1.5; greedy unless sample=1
//   best-of-n   n=4 samples of the base (or of GenARM with arms=...), the best by reward=rm|arm|afinn
// A spec is "kind" or "kind:key=value,key=value"; list values are separated by '/'.
#pragma once

#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <unistd.h>

#include "args.hpp"
#include "common.hpp"
#include "genarm/eval/afinn.hpp"
#include "genarm/generate/batch_generator.hpp"
#include "genarm/generate/best_of_n.hpp"
#include "genarm/generate/generator.hpp"
#include "genarm/guidance/args_policy.hpp"
#include "genarm/guidance/arm_reward.hpp"
#include "genarm/guidance/trajectory_reward.hpp"
#include "genarm/guidance/guided_model.hpp"
#include "genarm/model/transformer.hpp"
#include "genarm/tokenizer/tokenizer.hpp"
#include "tokenizer_check.hpp"

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
// A PEFT LoRA adapter folder is applied to its base model, loaded once too: adapters of the
// --base model share its weights (the same object), and the batch engine steps them with it.
class ModelCache {
 public:
  // Which base each adapter ARM is applied to: the i-th of `arm_bases` (--arm-base, in --arm
  // order) for the i-th of `arms`; otherwise the adapter's base_model_name_or_path when that
  // folder exists, else `default_base` (--base).
  void set_adapter_bases(const std::string& default_base, const std::vector<std::string>& arms,
                         const std::vector<std::string>& arm_bases) {
    if (arm_bases.size() > arms.size()) {
      fail(ErrorCategory::kInvalidArgument, "--arm-base is given ", arm_bases.size(), " times for ", arms.size(),
           " --arm (one per --arm, in the same order)");
    }
    default_base_ = default_base;
    for (size_t i = 0; i < arm_bases.size(); ++i) {
      const std::string arm = key_of(arms[i]);
      if (!model::is_adapter_folder(arm)) {
        fail(ErrorCategory::kInvalidArgument, "--arm-base ", arm_bases[i], " is given for --arm ", arms[i],
             ", which is not a LoRA adapter folder (no adapter_config.json)");
      }
      adapter_bases_[arm] = key_of(arm_bases[i]);
    }
  }

  // How every model's weights are kept (--weight-type): as stored (nullopt) or converted at load
  // on `pool`, with a progress line on stderr for big models.
  void set_weight_type(std::optional<model::WeightType> type, ThreadPool* pool) {
    weight_type_ = type;
    pool_ = pool;
  }

  const model::Transformer& model(const std::string& name) {
    const std::string key = key_of(name);
    auto it = models_.find(key);
    if (it != models_.end()) return it->second;
    if (model::is_adapter_folder(key)) {
      const model::Transformer& base = model(base_of_adapter(key));
      return models_.emplace(key, model::Transformer::load_adapter(key, base)).first->second;
    }
    return models_.emplace(key, model::Transformer::load(key, load_options(key))).first->second;
  }
  // An adapter folder without its own tokenizer.json reads its base's.
  const Tokenizer& tokenizer(const std::string& name) {
    std::string key = key_of(name);
    if (model::is_adapter_folder(key) && !std::filesystem::exists(std::filesystem::path(key) / "tokenizer.json")) {
      key = base_of_adapter(key);
    }
    auto it = tokenizers_.find(key);
    if (it == tokenizers_.end()) it = tokenizers_.emplace(key, Tokenizer::from_file(key)).first;
    return it->second;
  }
  GuidedModel::Part part(const std::string& name) {
    return GuidedModel::Part{resolve_model(name).string(), tokenizer(name), model(name)};
  }

 private:
  // One key per folder however it was written (relative, absolute, trailing '/').
  static std::string key_of(const std::string& name) {
    return std::filesystem::weakly_canonical(resolve_model(name)).string();
  }
  std::string base_of_adapter(const std::string& key) {
    if (auto it = adapter_bases_.find(key); it != adapter_bases_.end()) return it->second;
    if (const auto own = model::adapter_base_folder(key)) return key_of(own->string());
    if (!default_base_.empty() && key_of(default_base_) != key) return key_of(default_base_);
    const model::LoraConfig c = model::read_lora_config(key);
    fail(ErrorCategory::kInvalidArgument, key, ": a LoRA adapter whose base '", c.base_model_name_or_path,
         "' is not a local folder: give --arm-base DIR for an ARM (or --base for an ARM; an adapter given as --base "
         "needs a local base_model_name_or_path)");
  }

  model::LoadOptions load_options(const std::string& key) const {
    model::LoadOptions o{.weights = weight_type_, .pool = pool_, .progress = {}};
    if (!weight_type_) return o;
    const std::string label = "genarm: " + key + ": weights to " + std::string(model::weight_type_name(*weight_type_));
    o.progress = [label, tty = ::isatty(2) == 1, last = -1](size_t done, size_t total) mutable {
      if (total < (size_t{256} << 20)) return;  // small models convert in a blink
      const int percent = static_cast<int>(100.0 * static_cast<double>(done) / static_cast<double>(total));
      if (tty) {
        if (percent != last) std::fprintf(stderr, "\r%s: %d%%%s", label.c_str(), percent, done == total ? "\n" : "");
      } else if (percent / 25 != last / 25 || done == total) {
        std::fprintf(stderr, "%s: %d%%\n", label.c_str(), percent);
      }
      last = percent;
    };
    return o;
  }

  std::optional<model::WeightType> weight_type_;
  ThreadPool* pool_ = nullptr;
  std::map<std::string, model::Transformer> models_;
  std::map<std::string, Tokenizer> tokenizers_;
  std::map<std::string, std::string> adapter_bases_;  // adapter folder -> base folder
  std::string default_base_;
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
  size_t batch_size = 8;        // sequences decoded together by run_all (1: one at a time)
};

// Runs one method on prompts: run() one prompt at a time (streamed), run_all() many through the
// batch engine. Both give the same results for the same prompt and seed (the engine is
// batch-invariant).
class MethodRunner {
 public:
  MethodRunner(const MethodSpec& spec, ModelCache& cache, const MethodDefaults& defaults)
      : spec_(spec), defaults_(defaults) {
    std::vector<GuidedModel::Part> arms;
    guided_ = spec.kind == "genarm" || (spec.kind == "best-of-n" && !spec.arms.empty());
    const std::string& base = spec.model.empty() ? defaults.base : spec.model;
    base_name_ = resolve_model(base).string();
    if (guided_) {
      const auto& names = spec.arms.empty() ? defaults.arms : spec.arms;
      if (names.empty()) fail(ErrorCategory::kInvalidArgument, "method '", spec.text, "': no ARM (give --arm or arms=...)");
      // Tokenizers first, before any weights are read (GuidedModel checks them again).
      for (const auto& a : names) {
        check_reads_base_ids(cache.tokenizer(base), base_name_, cache.tokenizer(a), "ARM", resolve_model(a).string(),
                             "GenARM needs base and ARMs to share one tokenizer");
      }
      for (const auto& a : names) arms.push_back(cache.part(a));
    }
    model_ = std::make_unique<GuidedModel>(
        GuidedModel::assemble(cache.part(base), std::move(arms)));
    for (const auto& note : model_->compatibility_notes()) print_note_once(note);
    guidance_ = guided_ ? Guidance{spec.weights, spec.beta} : Guidance{};
    guidance_.validate(model_->num_arms());
    sampler_params_ = defaults.sampler;
    if (spec.kind == "args" && !spec.sample) sampler_params_.greedy = true;  // ARGS-greedy unless sample=1
    config_ = defaults.generation;
    config_.eos_token_ids = model_->eos_token_ids();

    const std::string rm = spec.rm.empty() ? defaults.rm : spec.rm;
    if (spec.kind == "args" || (spec.kind == "best-of-n" && spec.reward == "rm")) {
      if (rm.empty()) fail(ErrorCategory::kInvalidArgument, "method '", spec.text, "' needs a reward model (--rm DIR or rm=DIR)");
      check_tokenizer(cache.tokenizer(rm), "reward model", rm);
      rm_model_ = cache.model(rm);
    }
    if (spec.kind == "best-of-n") {
      if (spec.reward == "rm") {
        rm_ = std::make_unique<TrajectoryReward>(*rm_model_);
        rm_->set_thread_pool(defaults.pool);
      } else if (spec.reward == "arm") {
        const std::string arm = !spec.reward_arm.empty() ? spec.reward_arm
                                : !defaults.arms.empty() ? defaults.arms[0]
                                                         : "";
        if (arm.empty()) fail(ErrorCategory::kInvalidArgument, "method '", spec.text, "': reward=arm needs arm=DIR or --arm");
        check_tokenizer(cache.tokenizer(arm), "ARM", arm);
        judge_arm_ = cache.model(arm);
      } else if (!defaults.afinn) {
        fail(ErrorCategory::kInvalidArgument, "method '", spec.text, "': reward=afinn needs the bundled AFINN data");
      }
    }
  }

  const Tokenizer& tokenizer() const { return model_->tokenizer(); }
  const MethodSpec& spec() const { return spec_; }

  // One prompt, decoded alone (its text streamed to on_text).
  GenerationResult run(const Prompts& prompts, uint64_t seed, const StreamCallback& on_text = {}) {
    sampling::SamplerParams params = sampler_params_;
    params.seed = seed;
    sampling::Sampler sampler(params, model_->vocab_size());
    if (spec_.kind == "args") {
      TransformerSource base(model_->base());
      base.set_thread_pool(defaults_.pool);
      ArgsPolicy<TransformerSource> args(std::move(base), *rm_model_, model_->vocab_size(), ArgsParams{spec_.k, spec_.w});
      args.set_thread_pool(defaults_.pool);
      return generate(args, sampler, model_->tokenizer(), prompts, config_, on_text);
    }
    auto policy = model_->new_policy(guidance_, defaults_.pool);
    if (spec_.kind == "best-of-n") {
      auto reward = [&](const Prompts& p, const GenerationResult& r) -> double {
        std::vector<GenerationResult> one{r};
        return rewards(p, one)[0];
      };
      return best_of_n(policy, sampler, model_->tokenizer(), prompts, config_, spec_.n, seed, reward, on_text).best;
    }
    return generate(policy, sampler, model_->tokenizer(), prompts, config_, on_text);
  }

  // Runs prompt_of(i) for every i in `todo` through the batch engine, defaults.batch_size
  // sequences at a time, prompt i with seed `seed + i`; on_result(i, result) is called on this
  // thread as each completes (in completion order).
  void run_all(std::span<const size_t> todo, const std::function<Prompts(size_t)>& prompt_of, uint64_t seed,
               const std::function<void(size_t, GenerationResult)>& on_result) {
    const size_t samples = spec_.kind == "best-of-n" ? static_cast<size_t>(spec_.n) : 1;
    BatchOptions options;
    options.max_batch = std::max(defaults_.batch_size, samples);
    BatchGenerator engine(*model_, options, defaults_.pool, rm_model_ ? &*rm_model_ : nullptr);
    struct Pending {
      size_t index;
      Prompts prompts;
      std::vector<GenerationResult> samples;
      size_t received = 0;
    };
    std::map<uint64_t, Pending> pending;
    std::vector<std::pair<size_t, GenerationResult>> finished;
    size_t next = 0;
    const size_t queue = 2 * options.max_batch;  // requests submitted ahead of the running ones
    while (next < todo.size() || !pending.empty()) {
      while (next < todo.size() && pending.size() < queue) {
        const size_t i = todo[next++];
        BatchRequest r;
        r.prompts = prompt_of(i);
        if (guided_) {
          for (size_t a = 0; a < model_->num_arms(); ++a) r.arms.push_back(a);
          r.guidance = guidance_;
        }
        if (spec_.kind == "args") r.args = ArgsParams{spec_.k, spec_.w};
        r.sampler = sampler_params_;
        r.sampler.seed = seed + i;
        r.config = config_;
        r.samples = static_cast<int>(samples);
        r.on_done = [&pending](uint64_t id, int sample, GenerationResult result) {
          Pending& p = pending.at(id);
          p.samples[static_cast<size_t>(sample)] = std::move(result);
          ++p.received;
        };
        Prompts copy = r.prompts;
        const uint64_t id = engine.submit(std::move(r));
        pending.emplace(id, Pending{i, std::move(copy), std::vector<GenerationResult>(samples), 0});
      }
      engine.step();
      for (auto it = pending.begin(); it != pending.end();) {
        if (it->second.received < samples) {
          ++it;
          continue;
        }
        finished.emplace_back(it->second.index, pick(it->second.prompts, std::move(it->second.samples)));
        it = pending.erase(it);
      }
      for (auto& [index, result] : finished) on_result(index, std::move(result));
      finished.clear();
    }
  }

 private:
  // best-of-n: the highest reward (ties: the first), costing all samples; otherwise the one result.
  GenerationResult pick(const Prompts& prompts, std::vector<GenerationResult> samples) {
    if (samples.size() == 1) return std::move(samples[0]);
    const auto scores = rewards(prompts, samples);
    size_t best = 0;
    for (size_t i = 1; i < scores.size(); ++i) {
      if (scores[i] > scores[best]) best = i;
    }
    double decode = 0, cost = 0;
    for (const auto& s : samples) decode += s.decode_seconds, cost += s.cost_seconds;
    GenerationResult out = std::move(samples[best]);
    out.decode_seconds = decode;  // the cost of the method, not of one sample
    out.cost_seconds = cost;
    return out;
  }

  // The best-of-n judge's reward of each sample.
  std::vector<double> rewards(const Prompts& prompts, const std::vector<GenerationResult>& samples) {
    std::vector<double> out;
    if (rm_) {
      std::vector<std::pair<std::span<const int32_t>, std::span<const int32_t>>> items;
      for (const auto& s : samples) items.emplace_back(prompts.base, s.ids);
      return rm_->score_batch(items);
    }
    if (judge_arm_) {
      std::vector<ScoreItem> items;
      for (const auto& s : samples) items.push_back({prompts.base, s.ids});
      for (const auto& score : arm_scores(*judge_arm_, items, model_->vocab_size(), defaults_.pool)) {
        out.push_back(score.reward);
      }
      return out;
    }
    for (const auto& s : samples) out.push_back(defaults_.afinn->score(s.text));
    return out;
  }

  void check_tokenizer(const Tokenizer& other, const std::string& role, const std::string& name) const {
    check_reads_base_ids(model_->tokenizer(), base_name_, other, role, resolve_model(name).string(),
                         "it must read the same token ids");
  }

  MethodSpec spec_;
  std::string base_name_;
  MethodDefaults defaults_;
  std::unique_ptr<GuidedModel> model_;
  bool guided_ = false;
  Guidance guidance_;
  sampling::SamplerParams sampler_params_;
  GenerationConfig config_;
  std::optional<model::Transformer> rm_model_;
  std::unique_ptr<TrajectoryReward> rm_;
  std::optional<model::Transformer> judge_arm_;
};

}  // namespace genarm::cli
