// Out-of-line definitions of openai_protocol.hpp (compiled once under GENARM_SERVER_COMPILED_LIB,
// inline otherwise; see core/compiled.hpp for the pattern).
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <unordered_set>

#include "genarm/core/utf8.hpp"
#include "genarm/io/json.hpp"
#include "genarm/server/openai_protocol.hpp"

namespace genarm::server {

namespace detail {

inline Json null_or(const std::string& s) { return s.empty() ? Json(nullptr) : Json(s); }

inline std::string type_of(const Json& v) {
  if (v.is_number_integer()) return "an integer";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_array()) return "an array";
  if (v.is_object()) return "an object";
  return "null";
}

inline std::string number_text(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

[[noreturn]] inline void invalid_type(const std::string& param, const std::string& expected, const Json& got) {
  throw ApiError(400, "Invalid type for '" + param + "': expected " + expected + ", but got " + type_of(got) + ".",
                 param, "invalid_type");
}

[[noreturn]] inline void invalid_value(const std::string& param, const std::string& message) {
  throw ApiError(400, "Invalid value for '" + param + "': " + message, param, "invalid_value");
}

// The fields of one JSON object: typed getters that remember which keys were read, so that the
// rest can be refused as unknown.
class Fields {
 public:
  Fields(const Json& object, std::string prefix) : object_(object), prefix_(std::move(prefix)) {}

  std::string param(std::string_view key) const { return prefix_ + std::string(key); }

  // The value of `key`, or null when absent or null (OpenAI's Optional fields).
  const Json* get(std::string_view key) {
    seen_.emplace_back(key);
    const auto it = object_.find(std::string(key));
    if (it == object_.end() || it->is_null()) return nullptr;
    return &*it;
  }
  bool has(std::string_view key) const {
    const auto it = object_.find(std::string(key));
    return it != object_.end() && !it->is_null();
  }
  // Accepted and ignored (metadata such as "user").
  void ignore(std::string_view key) { seen_.emplace_back(key); }

  std::optional<bool> boolean(std::string_view key) {
    const Json* v = get(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_boolean()) invalid_type(param(key), "a boolean", *v);
    return v->get<bool>();
  }
  std::optional<std::string> string(std::string_view key) {
    const Json* v = get(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string()) invalid_type(param(key), "a string", *v);
    return v->get<std::string>();
  }
  std::optional<int64_t> integer(std::string_view key, int64_t lo, int64_t hi) {
    const Json* v = get(key);
    if (v == nullptr) return std::nullopt;
    return integer_value(*v, param(key), lo, hi);
  }
  // A number in [lo, hi] (lo_open / hi_open exclude the bound); infinite bounds allowed.
  std::optional<double> number(std::string_view key, double lo, double hi, bool lo_open = false, bool hi_open = false) {
    const Json* v = get(key);
    if (v == nullptr) return std::nullopt;
    return number_value(*v, param(key), lo, hi, lo_open, hi_open);
  }

  static int64_t integer_value(const Json& v, const std::string& param, int64_t lo, int64_t hi) {
    if (!v.is_number_integer()) invalid_type(param, "an integer", v);
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      invalid_value(param, "must be at most " + std::to_string(hi) + ".");
    }
    const int64_t x = v.get<int64_t>();
    if (x < lo) invalid_value(param, std::to_string(x) + " is less than the minimum of " + std::to_string(lo) + ".");
    if (x > hi) invalid_value(param, std::to_string(x) + " is greater than the maximum of " + std::to_string(hi) + ".");
    return x;
  }
  static double number_value(const Json& v, const std::string& param, double lo, double hi, bool lo_open,
                             bool hi_open) {
    if (!v.is_number()) invalid_type(param, "a number", v);
    const double x = v.get<double>();
    if (!std::isfinite(x)) invalid_value(param, "must be a finite number.");
    const auto bounds = [&] {
      std::string s = lo_open || std::isinf(lo) ? "(" : "[";
      s += std::isinf(lo) ? "-inf" : number_text(lo);
      s += ", ";
      s += std::isinf(hi) ? "inf" : number_text(hi);
      return s + (hi_open || std::isinf(hi) ? ")" : "]");
    };
    if (x < lo || (lo_open && x == lo) || x > hi || (hi_open && x == hi)) {
      invalid_value(param, number_text(x) + " is outside " + bounds() + ".");
    }
    return x;
  }

  // Every key not read is an error, as OpenAI's API answers an unknown argument.
  void reject_unknown() const {
    for (auto it = object_.begin(); it != object_.end(); ++it) {
      if (std::find(seen_.begin(), seen_.end(), it.key()) == seen_.end()) {
        throw ApiError(400, "Unrecognized request argument supplied: " + param(it.key()), param(it.key()),
                       "unknown_parameter");
      }
    }
  }

  // A field genarm does not implement: only its neutral values are accepted.
  template <typename Neutral>
  void unsupported_unless(std::string_view key, Neutral&& neutral, const std::string& why) {
    const Json* v = get(key);
    if (v != nullptr && !neutral(*v)) {
      throw ApiError(400, "'" + param(key) + "' is not supported by this server: " + why, param(key),
                     "unsupported_parameter");
    }
  }

 private:
  const Json& object_;
  std::string prefix_;
  std::vector<std::string> seen_;
};

inline std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? std::string("none") : out;
}

inline std::optional<size_t> index_of(const std::vector<std::string>& names, const std::string& name) {
  const auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end()) return std::nullopt;
  return static_cast<size_t>(it - names.begin());
}

inline RewardSpec resolve_reward(const std::string& name, const ServedModels& served, const std::vector<size_t>& arms,
                                 const std::string& param) {
  RewardSpec r;
  r.label = name;
  if (name == "rm") {  // the first reward model (the engine's)
    if (served.rm_names.empty()) {
      throw ApiError(400, "reward 'rm': no reward model is loaded (start the server with --rm NAME=DIR)", param,
                     "no_reward_model");
    }
    r.kind = RewardSpec::Kind::kRm;
    r.index = 0;
    r.label = served.rm_names[0];
    return r;
  }
  if (name == "arm") {
    if (!arms.empty()) {
      r.index = arms[0];
    } else if (served.arm_names.size() == 1) {
      r.index = 0;
    } else {
      throw ApiError(400, "reward 'arm': name the ARM (the server has: " + join(served.arm_names) + ")", param,
                     "invalid_value");
    }
    r.kind = RewardSpec::Kind::kArm;
    r.label = served.arm_names[r.index];
    return r;
  }
  if (name == "logprob") {
    r.kind = RewardSpec::Kind::kLogprob;
    return r;
  }
  if (const auto i = index_of(served.rm_names, name)) {
    r.kind = RewardSpec::Kind::kRm;
    r.index = *i;
    return r;
  }
  if (const auto i = index_of(served.arm_names, name)) {
    r.kind = RewardSpec::Kind::kArm;
    r.index = *i;
    return r;
  }
  throw ApiError(400,
                 "unknown reward '" + name + "': use 'rm', 'arm', 'logprob', a reward model (" +
                     join(served.rm_names) + ") or an ARM (" + join(served.arm_names) + ")",
                 param, "invalid_value");
}

struct GuidanceSpec {
  Method method = Method::kGenArm;
  std::vector<size_t> arms;
  Guidance guidance;
  std::optional<int64_t> candidates;
  std::optional<std::string> reward;
  ArgsParams args;
};

inline GuidanceSpec parse_guidance(const Json& g, const ServedModels& served, int max_n) {
  if (!g.is_object()) invalid_type("guidance", "an object", g);
  Fields f(g, "guidance.");
  GuidanceSpec out;
  const std::string method = f.string("method").value_or("genarm");
  if (method == "genarm") {
    out.method = Method::kGenArm;
  } else if (method == "best-of-n") {
    out.method = Method::kBestOfN;
  } else if (method == "args") {
    out.method = Method::kArgs;
  } else {
    invalid_value("guidance.method", "'" + method + "' is not one of 'genarm', 'best-of-n', 'args'.");
  }
  const auto only_for = [&](std::string_view key, Method m, const char* name) {
    if (f.has(key) && out.method != m) {
      throw ApiError(400, "'guidance." + std::string(key) + "' applies to method '" + name + "' only", f.param(key),
                     "invalid_value");
    }
  };
  only_for("n", Method::kBestOfN, "best-of-n");
  only_for("k", Method::kArgs, "args");
  only_for("w", Method::kArgs, "args");
  if (f.has("reward") && out.method == Method::kGenArm) {
    throw ApiError(400, "'guidance.reward' applies to methods 'best-of-n' and 'args' only", "guidance.reward",
                   "invalid_value");
  }
  if (out.method == Method::kArgs && (f.has("arms") || f.has("beta"))) {
    throw ApiError(400, "ARGS is guided by a reward model, not by ARMs: 'guidance.arms' and 'guidance.beta' do not apply",
                   f.has("arms") ? "guidance.arms" : "guidance.beta", "invalid_value");
  }
  if (const Json* arms = f.get("arms")) {
    const auto add = [&](const std::string& name, float weight) {
      const std::string param = "guidance.arms." + name;
      const auto index = index_of(served.arm_names, name);
      if (!index) {
        throw ApiError(400, "unknown ARM '" + name + "' (this server has: " + join(served.arm_names) + ")", param,
                       "unknown_arm");
      }
      if (std::find(out.arms.begin(), out.arms.end(), *index) != out.arms.end()) {
        throw ApiError(400, "ARM '" + name + "' is given twice", param, "invalid_value");
      }
      out.arms.push_back(*index);
      out.guidance.weights.push_back(weight);
    };
    if (arms->is_object()) {
      for (auto it = arms->begin(); it != arms->end(); ++it) {
        const double w = Fields::number_value(it.value(), "guidance.arms." + it.key(), -1e6, 1e6, false, false);
        add(it.key(), static_cast<float>(w));
      }
    } else if (arms->is_array()) {
      for (size_t i = 0; i < arms->size(); ++i) {
        const Json& name = (*arms)[i];
        if (!name.is_string()) invalid_type("guidance.arms[" + std::to_string(i) + "]", "an ARM name (a string)", name);
        add(name.get<std::string>(), 1.0f);
      }
    } else {
      invalid_type("guidance.arms", "an object {ARM name: weight} or an array of ARM names", *arms);
    }
  }
  // The ARMs in the server's order (--arm order), whatever the key order of the request: a JSON
  // object's keys are unordered, and the order of the sum in z decides its last bits.
  {
    std::vector<size_t> order(out.arms.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return out.arms[a] < out.arms[b]; });
    std::vector<size_t> arms;
    std::vector<float> weights;
    for (size_t i : order) {
      arms.push_back(out.arms[i]);
      weights.push_back(out.guidance.weights[i]);
    }
    out.arms = std::move(arms);
    out.guidance.weights = std::move(weights);
  }
  if (const auto beta = f.number("beta", 0.0, std::numeric_limits<double>::infinity(), /*lo_open=*/true)) {
    out.guidance.beta = static_cast<float>(*beta);
    if (!(out.guidance.beta > 0.0f) || !std::isfinite(out.guidance.beta)) {
      invalid_value("guidance.beta", "must be a finite number > 0.");
    }
  }
  if (out.method == Method::kBestOfN) out.candidates = f.integer("n", 1, max_n);
  out.reward = f.string("reward");
  if (const auto k = f.integer("k", 1, static_cast<int64_t>(served.model->vocab_size()))) {
    out.args.k = static_cast<int>(*k);
  }
  if (const auto w = f.number("w", -1e6, 1e6)) out.args.w = static_cast<float>(*w);
  f.reject_unknown();
  return out;
}

inline std::vector<int32_t> token_ids(const Json& v, const std::string& param, size_t vocab) {
  std::vector<int32_t> ids;
  ids.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string p = param + "[" + std::to_string(i) + "]";
    ids.push_back(static_cast<int32_t>(Fields::integer_value(v[i], p, 0, static_cast<int64_t>(vocab) - 1)));
  }
  return ids;
}

inline std::vector<int32_t> encode(const Tokenizer& tokenizer, const std::string& text, bool add_special,
                                   const std::string& param) {
  try {
    return tokenizer.encode(text, add_special);
  } catch (const Error& e) {
    throw ApiError(400, std::string("cannot tokenize the prompt: ") + e.what(), param, "invalid_value");
  }
}

inline std::vector<PromptInput> completion_prompts(const Json& prompt, const ServedModels& served, size_t max_prompts) {
  const Tokenizer& tok = served.model->tokenizer();
  const size_t vocab = served.model->vocab_size();
  std::vector<PromptInput> out;
  const auto from_text = [&](const std::string& text, const std::string& param) {
    PromptInput p;
    p.text = text;
    p.tokens.base = encode(tok, text, /*add_special=*/true, param);
    out.push_back(std::move(p));
  };
  const auto from_ids = [&](const Json& ids, const std::string& param) {
    PromptInput p;
    p.tokens.base = token_ids(ids, param, vocab);
    p.text = tok.decode(p.tokens.base, /*skip_special_tokens=*/true);
    out.push_back(std::move(p));
  };
  if (prompt.is_string()) {
    from_text(prompt.get<std::string>(), "prompt");
  } else if (prompt.is_array()) {
    if (prompt.empty()) invalid_value("prompt", "must not be an empty array.");
    if (prompt[0].is_number()) {
      from_ids(prompt, "prompt");
    } else {
      if (prompt.size() > max_prompts) {
        invalid_value("prompt", "at most " + std::to_string(max_prompts) + " prompts per request, got " +
                                    std::to_string(prompt.size()) + ".");
      }
      for (size_t i = 0; i < prompt.size(); ++i) {
        const std::string param = "prompt[" + std::to_string(i) + "]";
        const Json& item = prompt[i];
        if (item.is_string()) {
          if (!prompt[0].is_string()) invalid_type(param, "an array of token ids (as prompt[0])", item);
          from_text(item.get<std::string>(), param);
        } else if (item.is_array()) {
          if (!prompt[0].is_array()) invalid_type(param, "a string (as prompt[0])", item);
          if (item.empty()) invalid_value(param, "must not be an empty array of token ids.");
          from_ids(item, param);
        } else {
          invalid_type(param, "a string or an array of token ids", item);
        }
      }
    }
  } else {
    invalid_type("prompt", "a string, an array of strings, an array of token ids or an array of token-id arrays",
                 prompt);
  }
  return out;
}

inline std::vector<std::string> stop_strings(const Json& v, size_t max_stop) {
  std::vector<std::string> out;
  const auto add = [&](const Json& s, const std::string& param) {
    if (!s.is_string()) invalid_type(param, "a string", s);
    std::string text = s.get<std::string>();
    if (text.empty()) invalid_value(param, "a stop string must not be empty.");
    out.push_back(std::move(text));
  };
  if (v.is_string()) {
    add(v, "stop");
  } else if (v.is_array()) {
    if (v.size() > max_stop) {
      invalid_value("stop", "at most " + std::to_string(max_stop) + " stop strings, got " + std::to_string(v.size()) + ".");
    }
    for (size_t i = 0; i < v.size(); ++i) add(v[i], "stop[" + std::to_string(i) + "]");
  } else {
    invalid_type("stop", "a string or an array of strings", v);
  }
  return out;
}

inline std::vector<std::pair<int32_t, float>> logit_bias(const Json& v, size_t vocab) {
  if (!v.is_object()) invalid_type("logit_bias", "an object {token id: bias}", v);
  std::vector<std::pair<int32_t, float>> out;
  for (auto it = v.begin(); it != v.end(); ++it) {
    const std::string param = "logit_bias." + it.key();
    const std::string& key = it.key();
    int64_t id = -1;
    if (!key.empty() && key.size() <= 10 && std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      id = std::stoll(key);
    }
    if (id < 0 || id >= static_cast<int64_t>(vocab)) {
      invalid_value(param, "'" + key + "' is not a token id of the vocabulary (0 to " + std::to_string(vocab - 1) + ").");
    }
    const double bias = Fields::number_value(it.value(), param, -100.0, 100.0, false, false);
    out.emplace_back(static_cast<int32_t>(id), static_cast<float>(bias));
  }
  return out;
}

inline void check_prompt_length(const PromptInput& p, const ServedModels& served, const ServerLimits& limits,
                                const std::vector<size_t>& arms, const std::string& param) {
  const int64_t context = served.context();
  const size_t limit = limits.max_prompt_tokens > 0 ? std::min<size_t>(limits.max_prompt_tokens, static_cast<size_t>(context - 1))
                                                    : static_cast<size_t>(context - 1);
  if (p.tokens.base.empty()) {
    invalid_value(param, "the prompt encodes to no tokens: give at least one token.");
  }
  if (p.tokens.base.size() > limit) {
    throw ApiError(400,
                   "This model's maximum prompt length is " + std::to_string(limit) + " tokens (context " +
                       std::to_string(context) + "). However, your prompt is " + std::to_string(p.tokens.base.size()) +
                       " tokens.",
                   param, "context_length_exceeded");
  }
  for (size_t g = 0; g < p.tokens.guides.size(); ++g) {
    const auto& arm = served.model->arms()[arms[g]];
    const int64_t arm_context = arm.config().max_position_embeddings;
    if (static_cast<int64_t>(p.tokens.guides[g].size()) >= arm_context) {
      throw ApiError(400,
                     "the prompt of ARM '" + served.arm_names[arms[g]] + "' (its own chat template) is " +
                         std::to_string(p.tokens.guides[g].size()) + " tokens, which leaves no room in its context of " +
                         std::to_string(arm_context),
                     param, "context_length_exceeded");
    }
  }
}

inline float finite_logprob(float lp) { return std::isfinite(lp) ? lp : -9999.0f; }

inline Json bytes_of(const std::string& s) {
  Json out = Json::array();
  for (unsigned char c : s) out.push_back(static_cast<int>(c));
  return out;
}

}  // namespace detail

GENARM_SERVER_INLINE Json ApiError::body() const {
  Json e = Json::object();
  e["message"] = what();
  e["type"] = type_;
  e["param"] = detail::null_or(param_);
  e["code"] = detail::null_or(code_);
  Json out = Json::object();
  out["error"] = std::move(e);
  return out;
}

GENARM_SERVER_INLINE Json error_body(int status, const std::string& message, const std::string& param,
                                     const std::string& code, const std::string& type) {
  std::string t = type;
  if (t.empty()) t = status >= 500 ? "server_error" : status == 429 ? "requests" : "invalid_request_error";
  return ApiError(status, message, param, code, t).body();
}

GENARM_SERVER_INLINE PromptInput chat_prompt(const ServedModels& served, const Json& messages,
                                             const std::vector<size_t>& arms, const Json& extra,
                                             bool add_generation_prompt) {
  if (!served.chat_template) throw ApiError(400, served.no_chat_template_reason, "messages", "no_chat_template");
  if (!messages.is_array()) detail::invalid_type("messages", "an array of messages", messages);
  if (messages.empty()) detail::invalid_value("messages", "must contain at least one message.");
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string param = "messages[" + std::to_string(i) + "]";
    const Json& m = messages[i];
    if (!m.is_object()) detail::invalid_type(param, "an object", m);
    const auto role = m.find("role");
    if (role == m.end()) {
      throw ApiError(400, "Missing required parameter: '" + param + ".role'.", param + ".role",
                     "missing_required_parameter");
    }
    if (!role->is_string()) detail::invalid_type(param + ".role", "a string", *role);
    const auto content = m.find("content");
    if (content != m.end() && !content->is_string() && !content->is_array() && !content->is_null()) {
      detail::invalid_type(param + ".content", "a string or an array of content parts", *content);
    }
  }
  chat::RenderOptions options;
  options.max_output_bytes = size_t{16} << 20;
  options.max_loop_iterations = 1'000'000;
  const auto render = [&](const chat::ChatTemplate& t) {
    try {
      return t.render(messages, add_generation_prompt, extra, options);
    } catch (const Error& e) {
      throw ApiError(400, std::string("chat template: ") + e.what(), "messages", "chat_template_error");
    }
  };
  const Tokenizer& tok = served.model->tokenizer();
  PromptInput p;
  p.text = render(*served.chat_template);
  // HF apply_chat_template(tokenize=True) encodes with add_special_tokens=False: the template
  // writes BOS (and any other special token) itself, and they are matched as added tokens.
  p.tokens.base = detail::encode(tok, p.text, /*add_special=*/false, "messages");
  bool own = false;
  for (size_t a : arms) own |= a < served.arm_templates.size() && served.arm_templates[a].has_value();
  if (own) {
    for (size_t a : arms) {
      if (a < served.arm_templates.size() && served.arm_templates[a]) {
        p.tokens.guides.push_back(detail::encode(tok, render(*served.arm_templates[a]), false, "messages"));
      } else {
        p.tokens.guides.push_back(p.tokens.base);
      }
    }
  }
  return p;
}

GENARM_SERVER_INLINE ParsedRequest parse_request(Endpoint endpoint, std::string_view body, const ServedModels& served,
                                                 const ServerLimits& limits, uint64_t default_seed) {
  constexpr size_t kMaxDepth = 64;
  const size_t deep = io::detail::find_excess_json_depth(body, kMaxDepth);
  if (deep != std::string_view::npos) {
    throw ApiError(400, "We could not parse the JSON body of your request: it nests deeper than " +
                            std::to_string(kMaxDepth) + " levels (byte " + std::to_string(deep + 1) + ").",
                   "", "invalid_json");
  }
  Json j;
  try {
    j = Json::parse(body);
  } catch (const nlohmann::json::exception& e) {
    // nlohmann refuses ill-formed UTF-8 and lone surrogates here too.
    throw ApiError(400, std::string("We could not parse the JSON body of your request: ") + e.what(), "",
                   "invalid_json");
  }
  return parse_request_json(endpoint, j, served, limits, default_seed);
}

GENARM_SERVER_INLINE ParsedRequest parse_request_json(Endpoint endpoint, const Json& body, const ServedModels& served,
                                                 const ServerLimits& limits, uint64_t default_seed) {
  using detail::Fields;
  if (!body.is_object()) detail::invalid_type("body", "a JSON object", body);
  const bool chat = endpoint == Endpoint::kChat;
  const int max_n = limits.max_n > 0 ? std::min<int>(limits.max_n, static_cast<int>(served.batch_size))
                                     : static_cast<int>(served.batch_size);
  Fields f(body, "");
  ParsedRequest r;
  r.endpoint = endpoint;

  const auto model = f.string("model");
  if (!model) {
    throw ApiError(400, "Missing required parameter: 'model'.", "model", "missing_required_parameter");
  }
  if (*model != served.name) {
    throw ApiError(404, "The model '" + *model + "' does not exist (this server serves '" + served.name + "').",
                   "model", "model_not_found");
  }
  r.model = *model;

  // Guidance first: the ARMs decide the ARM prompts of chat requests.
  detail::GuidanceSpec g;
  if (const Json* guidance = f.get("guidance")) g = detail::parse_guidance(*guidance, served, max_n);
  r.method = g.method;
  r.arms = g.arms;
  r.guidance = g.guidance;
  r.args = g.args;

  r.stream = f.boolean("stream").value_or(false);
  if (const Json* so = f.get("stream_options")) {
    if (!so->is_object()) detail::invalid_type("stream_options", "an object", *so);
    if (!r.stream) {
      throw ApiError(400, "'stream_options' is only allowed when 'stream' is true.", "stream_options",
                     "invalid_value");
    }
    Fields s(*so, "stream_options.");
    r.include_usage = s.boolean("include_usage").value_or(false);
    s.boolean("include_obfuscation");  // no obfuscation padding is sent
    s.reject_unknown();
  }

  // Sampling (OpenAI's fields and genarm's).
  auto& p = r.sampler;
  const double inf = std::numeric_limits<double>::infinity();
  if (const auto v = f.number("temperature", 0.0, inf)) p.temperature = static_cast<float>(*v);
  if (const auto v = f.number("top_p", 0.0, 1.0, /*lo_open=*/true)) p.top_p = static_cast<float>(*v);
  if (const auto v = f.integer("top_k", -1, std::numeric_limits<int32_t>::max())) p.top_k = *v < 0 ? 0 : static_cast<int>(*v);
  if (const auto v = f.number("min_p", 0.0, 1.0)) p.min_p = static_cast<float>(*v);
  if (const auto v = f.number("typical_p", 0.0, 1.0, /*lo_open=*/true)) p.typical_p = static_cast<float>(*v);
  if (const auto v = f.number("repetition_penalty", 0.0, inf, /*lo_open=*/true)) {
    p.repetition_penalty = static_cast<float>(*v);
  }
  if (const auto v = f.number("frequency_penalty", -inf, inf)) p.frequency_penalty = static_cast<float>(*v);
  if (const auto v = f.number("presence_penalty", -inf, inf)) p.presence_penalty = static_cast<float>(*v);
  if (const auto v = f.integer("penalty_window", 0, std::numeric_limits<int32_t>::max())) p.penalty_window = static_cast<int>(*v);
  if (const Json* seed = f.get("seed")) {
    if (!seed->is_number_integer()) detail::invalid_type("seed", "an integer", *seed);
    p.seed = seed->is_number_unsigned() ? seed->get<uint64_t>() : static_cast<uint64_t>(seed->get<int64_t>());
    r.seeded = true;
  } else {
    p.seed = default_seed;
  }
  if (const Json* bias = f.get("logit_bias")) p.logit_bias = detail::logit_bias(*bias, served.model->vocab_size());

  // Limits.
  std::optional<int64_t> max_tokens = f.integer("max_tokens", chat ? 1 : 0, limits.max_tokens);
  if (chat) {
    if (const auto v = f.integer("max_completion_tokens", 1, limits.max_tokens)) max_tokens = v;
  }
  r.max_tokens = static_cast<int>(max_tokens.value_or(chat ? limits.max_tokens : 16));
  if (const Json* stop = f.get("stop")) r.config.stop_strings = detail::stop_strings(*stop, limits.max_stop);
  r.n = static_cast<int>(f.integer("n", 1, max_n).value_or(1));

  // Log-probs (a negative cap: the whole vocabulary).
  const int max_logprobs = limits.max_logprobs < 0 ? static_cast<int>(served.model->vocab_size()) : limits.max_logprobs;
  if (chat) {
    const bool logprobs = f.boolean("logprobs").value_or(false);
    const auto top = f.integer("top_logprobs", 0, max_logprobs);
    if (top && !logprobs) {
      throw ApiError(400, "'top_logprobs' needs 'logprobs' to be true.", "top_logprobs", "invalid_value");
    }
    r.logprobs = logprobs ? static_cast<int>(top.value_or(0)) : -1;
  } else {
    r.logprobs = static_cast<int>(f.integer("logprobs", 0, max_logprobs).value_or(-1));
    r.echo = f.boolean("echo").value_or(false);
  }
  r.tokens_as_ids = f.boolean("return_tokens_as_token_ids").value_or(false);
  r.return_token_ids = f.boolean("return_token_ids").value_or(false);

  // Best-of: OpenAI's best_of (completions: ranked by mean log-prob per token) or guidance.
  std::optional<int64_t> best_of;
  if (!chat) best_of = f.integer("best_of", 1, max_n);
  if (best_of && *best_of > 1) {
    if (r.method != Method::kGenArm) {
      throw ApiError(400, "'best_of' cannot be combined with guidance method best-of-n or args (use guidance.n).",
                     "best_of", "invalid_value");
    }
    if (r.stream) throw ApiError(400, "'best_of' > 1 cannot be streamed.", "best_of", "invalid_value");
    if (*best_of < r.n) {
      throw ApiError(400, "'best_of' must be at least 'n' (" + std::to_string(r.n) + ").", "best_of", "invalid_value");
    }
    r.method = Method::kBestOfN;
    r.candidates = static_cast<int>(*best_of);
    r.reward.kind = RewardSpec::Kind::kLogprob;
    r.reward.label = "logprob";
  } else if (r.method == Method::kBestOfN) {
    r.candidates = static_cast<int>(g.candidates.value_or(std::min(4, max_n)));
    if (r.candidates < r.n) {
      throw ApiError(400, "'guidance.n' (" + std::to_string(r.candidates) + " candidates) must be at least 'n' (" +
                              std::to_string(r.n) + ").",
                     "guidance.n", "invalid_value");
    }
    const std::string reward = g.reward.value_or(!served.rm_names.empty() ? "rm" : "arm");
    r.reward = detail::resolve_reward(reward, served, r.arms, "guidance.reward");
  } else if (r.method == Method::kArgs) {
    const std::string reward = g.reward.value_or("rm");
    const RewardSpec spec = detail::resolve_reward(reward, served, {}, "guidance.reward");
    if (spec.kind != RewardSpec::Kind::kRm) {
      throw ApiError(400, "ARGS needs a trajectory reward model as its reward (one of: " + detail::join(served.rm_names) + ")",
                     "guidance.reward", "invalid_value");
    }
    r.args_rm = spec.index;
  }

  // Fields that are metadata, accepted and ignored.
  for (const char* key : {"user", "metadata", "store", "service_tier", "safety_identifier", "prompt_cache_key",
                          "prompt_cache_retention", "prompt_cache_options", "parallel_tool_calls"}) {
    f.ignore(key);
  }
  // Fields genarm does not implement: accepted only at their neutral values.
  const auto is_none = [](const Json& v) { return v.is_string() && v.get<std::string>() == "none"; };
  const auto is_empty_array = [](const Json& v) { return v.is_array() && v.empty(); };
  const auto never = [](const Json&) { return false; };
  if (chat) {
    f.unsupported_unless("tools", is_empty_array, "genarm generates text only (no tool calls).");
    f.unsupported_unless("functions", is_empty_array, "genarm generates text only (no function calls).");
    f.unsupported_unless("tool_choice", is_none, "genarm generates text only (no tool calls).");
    f.unsupported_unless("function_call", is_none, "genarm generates text only (no function calls).");
    f.unsupported_unless("response_format", [](const Json& v) {
      return v.is_object() && v.size() == 1 && v.contains("type") && v["type"] == "text";
    }, "only {\"type\": \"text\"}.");
    f.unsupported_unless("modalities", [](const Json& v) { return v == Json::array({"text"}); }, "text only.");
    for (const char* key : {"audio", "prediction", "web_search_options", "moderation", "reasoning_effort", "verbosity"}) {
      f.unsupported_unless(key, never, "not implemented.");
    }
  } else {
    f.unsupported_unless("suffix", never, "insertion is not implemented.");
  }

  // The prompts.
  if (chat) {
    const Json* messages = f.get("messages");
    if (messages == nullptr) {
      throw ApiError(400, "Missing required parameter: 'messages'.", "messages", "missing_required_parameter");
    }
    Json extra = Json::object();
    if (const Json* kwargs = f.get("chat_template_kwargs")) {
      if (!kwargs->is_object()) detail::invalid_type("chat_template_kwargs", "an object", *kwargs);
      extra = *kwargs;
    }
    const bool add_generation_prompt = f.boolean("add_generation_prompt").value_or(true);
    f.reject_unknown();
    r.prompts.push_back(chat_prompt(served, *messages, r.arms, extra, add_generation_prompt));
  } else {
    const Json* prompt = f.get("prompt");
    if (prompt == nullptr) {
      throw ApiError(400, "Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter");
    }
    f.reject_unknown();
    r.prompts = detail::completion_prompts(*prompt, served, limits.max_prompts);
  }
  for (size_t i = 0; i < r.prompts.size(); ++i) {
    detail::check_prompt_length(r.prompts[i], served, limits, r.arms,
                                chat ? std::string("messages") : r.prompts.size() > 1 ? "prompt[" + std::to_string(i) + "]" : "prompt");
  }
  if (r.max_tokens == 0 && !r.echo) {
    // Nothing to generate and nothing to show: still a valid request (OpenAI answers it).
  }

  r.config.max_new_tokens = std::max(r.max_tokens, 1);
  r.config.top_logprobs = std::max(r.logprobs, 0);
  // ARGS log-probs are the softmax of the candidates' scores: keep all k to find the chosen one's.
  if (r.method == Method::kArgs && r.logprobs >= 0) r.config.top_logprobs = std::max(r.logprobs, r.args.k);
  r.config.details = r.logprobs >= 0 || (r.method == Method::kBestOfN && r.reward.kind == RewardSpec::Kind::kLogprob);
  try {
    r.sampler.validate();
    r.guidance.validate(r.arms.size());
    r.config.validate();
    r.args.validate();
  } catch (const Error& e) {
    throw ApiError(400, e.what(), "", "invalid_value");
  }
  return r;
}

GENARM_SERVER_INLINE std::string token_text(const Tokenizer& tokenizer, int32_t previous, int32_t id) {
  const int32_t one[1] = {id};
  if (previous < 0) return tokenizer.decode(one, /*skip_special_tokens=*/false);
  const int32_t two[2] = {previous, id};
  const int32_t first[1] = {previous};
  const std::string both = tokenizer.decode(two, false);
  const std::string before = tokenizer.decode(first, false);
  if (both.size() >= before.size() && both.compare(0, before.size(), before) == 0) return both.substr(before.size());
  return tokenizer.decode(one, false);
}

GENARM_SERVER_INLINE std::string finish_reason(StopReason reason) {
  switch (reason) {
    case StopReason::kLength:
    case StopReason::kContext: return "length";
    case StopReason::kEos:
    case StopReason::kStopString:
    case StopReason::kCallback: return "stop";
  }
  return "stop";
}

GENARM_SERVER_INLINE TokenLogprobs token_logprobs(const GenerationResult& r, size_t t, int32_t previous, Method method,
                                                  int top) {
  TokenLogprobs e;
  e.id = r.ids[t];
  e.previous = previous;
  std::span<const TokenLogprob> alternatives;
  if (r.top_k > 0 && (t + 1) * r.top_k <= r.top_logprobs.size()) alternatives = r.top_of(t);
  if (method == Method::kArgs) {
    float lp = -std::numeric_limits<float>::infinity();
    for (const auto& a : alternatives) {
      if (a.id == e.id) lp = a.logprob;
    }
    e.logprob = lp;
  } else if (t < r.details.size()) {
    e.logprob = r.details[t].logprob_guided;
  } else {
    e.logprob = 0.0f;
  }
  const size_t keep = std::min(alternatives.size(), static_cast<size_t>(std::max(top, 0)));
  e.top.assign(alternatives.begin(), alternatives.begin() + static_cast<std::ptrdiff_t>(keep));
  return e;
}

GENARM_SERVER_INLINE std::vector<TokenLogprobs> result_logprobs(const Tokenizer& tokenizer, const GenerationResult& r,
                                                                int32_t previous, Method method, int top) {
  std::vector<TokenLogprobs> out;
  out.reserve(r.ids.size());
  for (size_t t = 0; t < r.ids.size(); ++t) {
    TokenLogprobs e = token_logprobs(r, t, previous, method, top);
    e.text = token_text(tokenizer, previous, e.id);
    previous = e.id;
    out.push_back(std::move(e));
  }
  return out;
}

GENARM_SERVER_INLINE std::string token_id_string(int32_t id) { return "token_id:" + std::to_string(id); }

GENARM_SERVER_INLINE Json completion_logprobs(const Tokenizer& tokenizer, const std::vector<TokenLogprobs>& tokens,
                                              size_t text_offset, bool tokens_as_ids) {
  Json texts = Json::array(), lps = Json::array(), tops = Json::array(), offsets = Json::array();
  size_t offset = text_offset;
  for (const auto& t : tokens) {
    texts.push_back(tokens_as_ids ? token_id_string(t.id) : t.text);
    offsets.push_back(offset);
    // Offsets index the choice's text, which skips special tokens (BOS, EOS).
    if (!tokenizer.skipped_in_decode(t.id, /*skip_special_tokens=*/true)) offset += t.text.size();
    if (!t.logprob) {
      lps.push_back(nullptr);
      tops.push_back(nullptr);
      continue;
    }
    lps.push_back(detail::finite_logprob(*t.logprob));
    // An ordered_json object looks keys up linearly on every insertion: with thousands of
    // alternatives (a remote caller asking for the whole vocabulary) that is quadratic, so the
    // keys are told apart by a hash set and appended to the object's vector directly.
    Json top = Json::object();
    auto& entries = static_cast<Json::object_t::Container&>(top.get_ref<Json::object_t&>());
    entries.reserve(t.top.size() + 1);
    std::unordered_set<std::string> keys;
    keys.reserve(t.top.size() + 1);
    for (const auto& a : t.top) {
      std::string key = tokens_as_ids ? token_id_string(a.id)
                        : a.id == t.id ? t.text
                                       : token_text(tokenizer, t.previous, a.id);
      if (keys.insert(key).second) entries.emplace_back(std::move(key), detail::finite_logprob(a.logprob));
    }
    std::string chosen = tokens_as_ids ? token_id_string(t.id) : t.text;
    if (keys.insert(chosen).second) entries.emplace_back(std::move(chosen), detail::finite_logprob(*t.logprob));
    tops.push_back(std::move(top));
  }
  Json out = Json::object();
  out["tokens"] = std::move(texts);
  out["token_logprobs"] = std::move(lps);
  out["top_logprobs"] = std::move(tops);
  out["text_offset"] = std::move(offsets);
  return out;
}

GENARM_SERVER_INLINE Json chat_logprobs(const Tokenizer& tokenizer, const std::vector<TokenLogprobs>& tokens,
                                        bool tokens_as_ids) {
  Json content = Json::array();
  for (const auto& t : tokens) {
    Json e = Json::object();
    e["token"] = tokens_as_ids ? token_id_string(t.id) : t.text;
    e["logprob"] = detail::finite_logprob(t.logprob.value_or(0.0f));
    e["bytes"] = detail::bytes_of(t.text);
    Json top = Json::array();
    for (const auto& a : t.top) {
      const std::string text = a.id == t.id ? t.text : token_text(tokenizer, t.previous, a.id);
      Json alt = Json::object();
      alt["token"] = tokens_as_ids ? token_id_string(a.id) : text;
      alt["logprob"] = detail::finite_logprob(a.logprob);
      alt["bytes"] = detail::bytes_of(text);
      top.push_back(std::move(alt));
    }
    e["top_logprobs"] = std::move(top);
    content.push_back(std::move(e));
  }
  Json out = Json::object();
  out["content"] = std::move(content);
  out["refusal"] = nullptr;
  return out;
}

GENARM_SERVER_INLINE Json usage_json(uint64_t prompt_tokens, uint64_t completion_tokens) {
  Json u = Json::object();
  u["prompt_tokens"] = prompt_tokens;
  u["completion_tokens"] = completion_tokens;
  u["total_tokens"] = prompt_tokens + completion_tokens;
  return u;
}

namespace detail {
inline Json envelope(const std::string& id, const char* object, int64_t created, const std::string& model) {
  Json j = Json::object();
  j["id"] = id;
  j["object"] = object;
  j["created"] = created;
  j["model"] = model;
  return j;
}
}  // namespace detail

GENARM_SERVER_INLINE Json completion_object(const std::string& id, int64_t created, const std::string& model,
                                            Json choices, const Json& usage) {
  Json j = detail::envelope(id, "text_completion", created, model);
  j["choices"] = std::move(choices);
  j["usage"] = usage;
  return j;
}

GENARM_SERVER_INLINE Json chat_object(const std::string& id, int64_t created, const std::string& model, Json choices,
                                      const Json& usage) {
  Json j = detail::envelope(id, "chat.completion", created, model);
  j["choices"] = std::move(choices);
  j["usage"] = usage;
  return j;
}

GENARM_SERVER_INLINE Json completion_chunk(const std::string& id, int64_t created, const std::string& model, int index,
                                           const std::string& text, const Json& logprobs, const Json& finish) {
  Json choice = Json::object();
  choice["index"] = index;
  choice["text"] = text;
  choice["logprobs"] = logprobs;
  choice["finish_reason"] = finish;
  Json j = detail::envelope(id, "text_completion", created, model);
  j["choices"] = Json::array({std::move(choice)});
  return j;
}

GENARM_SERVER_INLINE Json chat_chunk(const std::string& id, int64_t created, const std::string& model, int index,
                                     const Json& delta, const Json& logprobs, const Json& finish, bool usage_field) {
  Json choice = Json::object();
  choice["index"] = index;
  choice["delta"] = delta;
  choice["logprobs"] = logprobs;
  choice["finish_reason"] = finish;
  Json j = detail::envelope(id, "chat.completion.chunk", created, model);
  j["choices"] = Json::array({std::move(choice)});
  if (usage_field) j["usage"] = nullptr;  // OpenAI sends usage: null on every chunk when it will send usage
  return j;
}

GENARM_SERVER_INLINE Json usage_chunk(Endpoint endpoint, const std::string& id, int64_t created,
                                      const std::string& model, uint64_t prompt_tokens, uint64_t completion_tokens) {
  Json j = detail::envelope(id, endpoint == Endpoint::kChat ? "chat.completion.chunk" : "text_completion", created, model);
  j["choices"] = Json::array();
  j["usage"] = usage_json(prompt_tokens, completion_tokens);
  return j;
}

GENARM_SERVER_INLINE Json model_object(const ServedModels& served) {
  Json m = Json::object();
  m["id"] = served.name;
  m["object"] = "model";
  m["created"] = served.created;
  m["owned_by"] = "genarm";
  m["context_length"] = served.context();
  m["arms"] = served.arm_names;
  m["reward_models"] = served.rm_names;
  m["chat_template"] = served.chat_template.has_value();
  return m;
}

GENARM_SERVER_INLINE Json models_list(const ServedModels& served) {
  Json j = Json::object();
  j["object"] = "list";
  j["data"] = Json::array({model_object(served)});
  return j;
}

GENARM_SERVER_INLINE std::string dump(const Json& j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace genarm::server
