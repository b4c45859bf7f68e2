// Option groups shared by several subcommands: sampling, guidance, generation limits, prompts.
#pragma once

#include <string>
#include <vector>

#include "args.hpp"
#include "genarm/generate/generation_config.hpp"
#include "genarm/guidance/guided_policy.hpp"
#include "genarm/model/load_options.hpp"
#include "genarm/sampling/sampler_params.hpp"

namespace genarm::cli {

inline std::vector<OptionSpec> sampling_options() {
  return {
      {"--greedy", "", "argmax decoding (same as --temperature 0)"},
      {"--temperature", "T", "sampling temperature >= 0 (default 1; 0 = greedy)"},
      {"--top-k", "K", "keep the K most likely tokens (0 = off, default)"},
      {"--top-p", "P", "nucleus sampling, P in (0, 1] (1 = off, default)"},
      {"--min-p", "P", "drop tokens below P x the top probability, P in [0, 1] (0 = off)"},
      {"--typical-p", "P", "locally typical sampling, P in (0, 1] (1 = off)"},
      {"--repeat-penalty", "R", "HF repetition penalty > 0 (1 = off, default)"},
      {"--frequency-penalty", "F", "OpenAI-style frequency penalty (0 = off)"},
      {"--presence-penalty", "F", "OpenAI-style presence penalty (0 = off)"},
      {"--penalty-window", "N", "penalties look at the last N tokens (0 = all, default)"},
      {"--seed", "S", "random seed (default 0); a fixed seed reproduces a generation exactly"},
  };
}

inline sampling::SamplerParams sampler_params(const Args& a) {
  sampling::SamplerParams p;
  p.greedy = a.flag("--greedy");
  p.temperature = static_cast<float>(a.get_double("--temperature", 1.0));
  p.top_k = static_cast<int>(a.get_int("--top-k", 0, INT32_MIN, INT32_MAX));
  p.top_p = static_cast<float>(a.get_double("--top-p", 1.0));
  p.min_p = static_cast<float>(a.get_double("--min-p", 0.0));
  p.typical_p = static_cast<float>(a.get_double("--typical-p", 1.0));
  p.repetition_penalty = static_cast<float>(a.get_double("--repeat-penalty", 1.0));
  p.frequency_penalty = static_cast<float>(a.get_double("--frequency-penalty", 0.0));
  p.presence_penalty = static_cast<float>(a.get_double("--presence-penalty", 0.0));
  p.penalty_window = static_cast<int>(a.get_int("--penalty-window", 0, INT32_MIN, INT32_MAX));
  p.seed = static_cast<uint64_t>(a.get_int("--seed", 0, 0, INT64_MAX));
  p.validate();
  return p;
}

inline std::vector<OptionSpec> guidance_options() {
  return {
      {"--base", "DIR", "base model folder or bundled name (default toy-base)"},
      {"--arm", "DIR", "autoregressive reward model folder or bundled name (or a PEFT LoRA adapter folder)", true},
      {"--arm-base", "DIR", "the base model of the i-th --arm when it is a LoRA adapter (default: its "
                            "base_model_name_or_path if that folder exists, else --base)", true},
      {"--weights", "W1,W2", "one weight per ARM (default 1 each); a type name (q8_0, ...) is --weight-type"},
      {"--beta", "B", "beta > 0: z = logp_base + sum_i (w_i / beta) logp_arm_i (default 1)"},
  };
}

// --weights doubles as the weight storage type when its value names one (the issue tracker's
// `--weights q8_0`); numbers are the ARMs' weights. --weight-type is the unambiguous spelling.
inline bool names_weight_type(const std::string& value) {
  for (const char* t : {"auto", "f32", "f16", "bf16", "q8_0", "q4_0"}) {
    if (value == t) return true;
  }
  return false;
}

inline std::vector<OptionSpec> weight_type_options() {
  return {{"--weight-type", "TYPE",
           "how every model's weights are kept in memory: auto (default: as stored; 16-bit models small enough "
           "for the caches widened to f32), f32, f16, bf16, q8_0 or q4_0 (llama.cpp's blocks, quantised at load; "
           "the output head at q8_0). Also accepted as --weights TYPE"}};
}

// The storage type asked for (nullopt: auto); Error(kInvalidArgument) for an unknown name.
inline std::optional<model::WeightType> weight_type(const Args& a) {
  const auto by_weights = a.get("--weights");
  const bool via_weights = by_weights && names_weight_type(*by_weights);
  if (via_weights && a.has("--weight-type")) {
    throw UsageError("give the weight type once: --weight-type TYPE or --weights TYPE");
  }
  if (via_weights) return model::parse_weight_choice(*by_weights);
  if (auto t = a.get("--weight-type")) {
    try {
      return model::parse_weight_choice(*t);
    } catch (const Error& e) {
      fail(ErrorCategory::kInvalidArgument, "--weight-type: ", e.what());
    }
  }
  return std::nullopt;
}

inline Guidance guidance(const Args& a, size_t arms) {
  Guidance g;
  g.beta = static_cast<float>(a.get_double("--beta", 1.0));
  if (auto w = a.get("--weights"); w && !names_weight_type(*w)) {
    for (double v : Args::parse_numbers("--weights", *w)) g.weights.push_back(static_cast<float>(v));
  }
  g.validate(arms);
  return g;
}

inline std::vector<OptionSpec> generation_options() {
  return {
      {"--max-new-tokens", "N", "at most N new tokens (default 128)"},
      {"--ignore-eos", "", "do not stop at end-of-sequence tokens"},
      {"--stop", "STR", "stop when the text contains STR (cut before it)", true},
  };
}

inline GenerationConfig generation_config(const Args& a, std::vector<int32_t> eos) {
  GenerationConfig c;
  c.max_new_tokens = static_cast<int>(a.get_int("--max-new-tokens", 128, 1, 1 << 24));
  c.ignore_eos = a.flag("--ignore-eos");
  c.stop_strings = a.all("--stop");
  c.eos_token_ids = std::move(eos);
  c.validate();
  return c;
}

inline std::vector<OptionSpec> concat(std::vector<std::vector<OptionSpec>> groups) {
  std::vector<OptionSpec> out;
  for (auto& g : groups) out.insert(out.end(), g.begin(), g.end());
  return out;
}

}  // namespace genarm::cli
