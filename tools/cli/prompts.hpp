// Turning the CLI's prompt options into per-model token lists: text is encoded with the
// tokenizer's special tokens (BOS where tokenizer.json adds it), optionally inside a template per
// model ("{prompt}" is replaced by the text); ids are used exactly as given.
#pragma once

#include <nlohmann/json.hpp>
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "args.hpp"
#include "genarm/generate/generator.hpp"
#include "genarm/io/json.hpp"
#include "genarm/tokenizer/tokenizer.hpp"

namespace genarm::cli {

inline std::vector<OptionSpec> template_options() {
  return {
      {"--base-template", "TEXT", "prompt template of the base, with {prompt} (default: the prompt itself)"},
      {"--arm-template", "TEXT", "prompt template of each ARM, in --arm order", true},
  };
}

struct PromptTemplates {
  std::string base;
  std::vector<std::string> arms;  // empty: every ARM reads the base's prompt
  bool any() const { return !base.empty() || !arms.empty(); }
};

inline PromptTemplates prompt_templates(const Args& a, size_t num_arms) {
  PromptTemplates t;
  t.base = a.get_or("--base-template", "");
  t.arms = a.all("--arm-template");
  if (!t.arms.empty() && t.arms.size() != num_arms) {
    fail(ErrorCategory::kInvalidArgument, "--arm-template: got ", t.arms.size(), " templates for ",
         num_arms, " ARMs (give one per --arm)");
  }
  for (const auto& s : t.arms) {
    if (s.find("{prompt}") == std::string::npos) {
      fail(ErrorCategory::kInvalidArgument, "--arm-template '", s, "' has no {prompt}");
    }
  }
  if (!t.base.empty() && t.base.find("{prompt}") == std::string::npos) {
    fail(ErrorCategory::kInvalidArgument, "--base-template '", t.base, "' has no {prompt}");
  }
  return t;
}

inline std::string apply_template(const std::string& templ, const std::string& prompt) {
  if (templ.empty()) return prompt;
  std::string out = templ;
  for (size_t pos = out.find("{prompt}"); pos != std::string::npos; pos = out.find("{prompt}", pos + prompt.size())) {
    out.replace(pos, 8, prompt);
  }
  return out;
}

inline Prompts prompts_from_text(const std::string& text, const PromptTemplates& t, const Tokenizer& tok) {
  Prompts p;
  p.base = tok.encode(apply_template(t.base, text));
  for (const auto& a : t.arms) p.guides.push_back(tok.encode(apply_template(a, text)));
  return p;
}

inline Prompts prompts_from_ids(std::vector<int32_t> ids, const PromptTemplates& t) {
  if (t.any()) fail(ErrorCategory::kInvalidArgument, "prompt templates apply to text prompts, not to prompt ids");
  return Prompts{std::move(ids), {}};
}

// A JSON array of token ids, as in "prompt_ids": [1, 15043].
inline std::vector<int32_t> token_ids(const io::JsonView& v) {
  std::vector<int32_t> ids;
  for (size_t i = 0; i < v.size(); ++i) ids.push_back(static_cast<int32_t>(v.at(i).as_int(0, INT32_MAX)));
  return ids;
}

// A JSONL record {"id": ..., "prompt": "..."} or {"id": ..., "prompt_ids": [...]}: its prompts.
inline Prompts prompts_from_record(const nlohmann::json& record, const std::string& where,
                                   const PromptTemplates& t, const Tokenizer& tok) {
  const io::JsonView v(record, where, ErrorCategory::kFormat);
  v.expect_object();
  if (v.has("prompt_ids")) return prompts_from_ids(token_ids(v.at("prompt_ids")), t);
  if (!v.has("prompt")) v.fail("expected a \"prompt\" or \"prompt_ids\" key");
  return prompts_from_text(v.at("prompt").as_string(), t, tok);
}

// Splits the tokens of prompt + response at the prompt: the response as it continues the prompt
// (so a word-start marker lands where it would have been generated). Falls back to encoding the
// response alone when a token straddles the boundary.
inline std::pair<std::vector<int32_t>, std::vector<int32_t>> split_prompt_response(const Tokenizer& tok,
                                                                            const std::string& prompt,
                                                                            const std::string& response) {
  std::vector<int32_t> p = tok.encode(prompt);
  std::vector<int32_t> full = tok.encode(prompt + response);
  if (full.size() >= p.size() && std::equal(p.begin(), p.end(), full.begin())) {
    return {p, std::vector<int32_t>(full.begin() + static_cast<ptrdiff_t>(p.size()), full.end())};
  }
  return {p, tok.encode(response, false)};
}

}  // namespace genarm::cli
