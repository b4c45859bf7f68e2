// The next-token log-probs in a serving engine's answer to a one-token completion request, in
// every shape the engines genarm talks to send them:
//   OpenAI legacy completions (vLLM, SGLang, genarm serve):
//       choices[0].logprobs.top_logprobs[0] = {"<token>": logprob, ...}
//     where "<token>" is "token_id:<id>" when the request asked vLLM's return_tokens_as_token_ids
//     (vLLM, genarm serve), else the token's text (SGLang), mapped back to an id by TokenTextIndex;
//   OpenAI chat-style content (llama.cpp's /v1 endpoints):
//       choices[0].logprobs.content[0].top_logprobs = [{"id"?, "token", "logprob"}, ...]
//   llama.cpp's native /completion with n_probs:
//       completion_probabilities[0].top_logprobs = [{"id", "token", "bytes", "logprob"}, ...]
//     (post_sampling_probs: top_probs with "prob"; old servers: "probs" with "tok_str", "prob").
// Untrusted bytes: every type, id (within the vocabulary) and number (finite or -inf-like, at most
// 0 up to rounding) is checked; a malformed answer is an Error(kFormat) naming the URL and field.
// Thread-safety: TokenTextIndex is immutable once built (thread-safe); the parser is a function.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "genarm/core/error.hpp"
#include "genarm/generate/generation_result.hpp"
#include "genarm/tokenizer/tokenizer.hpp"

namespace genarm::remote {

// Token text -> id for engines that answer with token texts: each id's text alone
// (decode({id}), special tokens shown). Texts several ids share (e.g. pieces of one UTF-8
// character that all read "\uFFFD") are ambiguous: the engine's dict keeps only one of them
// anyway, so they are not mapped (that mass goes to the floor) and counted in `ambiguous()`.
class TokenTextIndex {
 public:
  TokenTextIndex() = default;
  explicit TokenTextIndex(const Tokenizer& tokenizer) {
    const auto n = static_cast<int32_t>(tokenizer.vocab_size());
    ids_.reserve(static_cast<size_t>(n));
    for (int32_t id = 0; id < n; ++id) {
      const int32_t one[1] = {id};
      auto [it, inserted] = ids_.emplace(tokenizer.decode(one, /*skip_special_tokens=*/false), id);
      if (!inserted && it->second >= 0) {
        it->second = kAmbiguous;
        ++ambiguous_;
      }
    }
  }
  // The id of `text`, or -1 (unknown or ambiguous).
  int32_t find(const std::string& text) const {
    const auto it = ids_.find(text);
    return it == ids_.end() || it->second < 0 ? -1 : it->second;
  }
  size_t ambiguous() const { return ambiguous_; }
  bool empty() const { return ids_.empty(); }

 private:
  static constexpr int32_t kAmbiguous = -2;
  std::unordered_map<std::string, int32_t> ids_;
  size_t ambiguous_ = 0;
};

// "token_id:123" -> 123; -1 if `key` is not of that form.
inline int64_t token_id_key(std::string_view key) {
  constexpr std::string_view kPrefix = "token_id:";
  if (key.substr(0, kPrefix.size()) != kPrefix) return -1;
  key.remove_prefix(kPrefix.size());
  int64_t id = -1;
  const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), id);
  if (ec != std::errc() || end != key.data() + key.size() || id < 0) return -1;
  return id;
}

struct ParsedLogprobs {
  std::vector<TokenLogprob> top;  // the engine's top tokens in its order (an id listed twice: the same value)
  size_t unmapped = 0;            // text keys that TokenTextIndex could not map to one id
};

namespace detail {

[[noreturn]] inline void bad_response(const std::string& where, const std::string& field, const std::string& what) {
  fail(ErrorCategory::kFormat, where, ": the engine's response has ", field, " ", what);
}

inline const nlohmann::json* member(const nlohmann::json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  const auto it = j.find(key);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

inline float checked_logprob(const nlohmann::json& v, const std::string& where, const std::string& field) {
  if (!v.is_number()) bad_response(where, field, "= " + v.dump() + ", expected a number (a log-probability)");
  const double x = v.get<double>();
  if (std::isnan(x) || x > 1e-3) bad_response(where, field, "= " + v.dump() + ", expected a log-probability <= 0");
  return static_cast<float>(std::min(x, 0.0));
}

inline int32_t checked_id(const nlohmann::json& v, size_t vocab, const std::string& where, const std::string& field) {
  if (!v.is_number_integer()) bad_response(where, field, "= " + v.dump() + ", expected a token id");
  const int64_t id = v.get<int64_t>();
  if (id < 0 || static_cast<uint64_t>(id) >= vocab) {
    bad_response(where, field, "= " + std::to_string(id) + ", outside the local vocabulary of " + std::to_string(vocab) +
                                   " tokens (is the engine serving another model?)");
  }
  return static_cast<int32_t>(id);
}

}  // namespace detail

// Parses the first generated position's top log-probs out of `response` (see the header comment)
// into `out` (cleared first, its capacity kept). `vocab` bounds the ids; `texts` maps token texts
// (may be empty when every key is an id). `where` names the request for messages
// ("POST http://host:8000/v1/completions").
inline void parse_next_token_logprobs(const nlohmann::json& response, size_t vocab, const TokenTextIndex& texts,
                                      const std::string& where, ParsedLogprobs& out) {
  using detail::bad_response;
  using detail::member;
  out.top.clear();
  out.unmapped = 0;
  const auto add = [&](int32_t id, float lp) { out.top.push_back({id, lp}); };
  const auto id_of_key = [&](const std::string& s, const std::string& field) -> int32_t {
    const int64_t id = token_id_key(s);
    if (id >= 0) {
      if (static_cast<uint64_t>(id) >= vocab) {
        bad_response(where, field, "'" + s + "', outside the local vocabulary of " + std::to_string(vocab) + " tokens");
      }
      return static_cast<int32_t>(id);
    }
    const int32_t found = texts.find(s);
    if (found < 0) ++out.unmapped;
    return found;
  };
  const auto id_of_text = [&](const nlohmann::json& v, const std::string& field) -> int32_t {
    if (!v.is_string()) bad_response(where, field, "= " + v.dump() + ", expected a token (a string)");
    return id_of_key(v.get_ref<const std::string&>(), field);
  };
  // [{"id"?, "token"|"tok_str"?, "logprob"|"prob"}, ...]
  const auto entries = [&](const nlohmann::json& list, const std::string& field) {
    if (!list.is_array()) bad_response(where, field, "of type " + std::string(list.type_name()) + ", expected an array");
    for (size_t i = 0; i < list.size(); ++i) {
      const auto& e = list[i];
      const std::string f = field + "[" + std::to_string(i) + "]";
      if (!e.is_object()) bad_response(where, f, "of type " + std::string(e.type_name()) + ", expected an object");
      int32_t id = -1;
      if (const auto* v = member(e, "id")) {
        id = detail::checked_id(*v, vocab, where, f + ".id");
      } else if (const auto* t = member(e, "token")) {
        id = id_of_text(*t, f + ".token");
      } else if (const auto* t2 = member(e, "tok_str")) {
        id = id_of_text(*t2, f + ".tok_str");
      } else {
        bad_response(where, f, "without \"id\" or \"token\"");
      }
      float lp;
      if (const auto* v = member(e, "logprob")) {
        lp = detail::checked_logprob(*v, where, f + ".logprob");
      } else if (const auto* p = member(e, "prob")) {
        if (!p->is_number() || !(p->get<double>() >= 0.0) || p->get<double>() > 1.0 + 1e-6) {
          bad_response(where, f + ".prob", "= " + p->dump() + ", expected a probability in [0, 1]");
        }
        lp = static_cast<float>(std::log(std::min(p->get<double>(), 1.0)));
      } else {
        bad_response(where, f, "without \"logprob\" or \"prob\"");
      }
      if (id >= 0) add(id, lp);
    }
  };

  if (const auto* probs = member(response, "completion_probabilities")) {  // llama.cpp /completion
    if (!probs->is_array() || probs->empty()) bad_response(where, "completion_probabilities", "empty or not an array");
    const auto& first = (*probs)[0];
    const std::string f = "completion_probabilities[0]";
    if (const auto* t = member(first, "top_logprobs")) {
      entries(*t, f + ".top_logprobs");
    } else if (const auto* p = member(first, "top_probs")) {
      entries(*p, f + ".top_probs");
    } else if (const auto* old = member(first, "probs")) {
      entries(*old, f + ".probs");
    } else {
      bad_response(where, f, "without top_logprobs (was n_probs sent?)");
    }
  } else {
    const auto* choices = member(response, "choices");
    if (choices == nullptr || !choices->is_array() || choices->empty()) {
      bad_response(where, "no choices", "(nor completion_probabilities): " + response.dump().substr(0, 200));
    }
    const auto* logprobs = member((*choices)[0], "logprobs");
    if (logprobs == nullptr) bad_response(where, "choices[0].logprobs", "null (does the engine support logprobs?)");
    if (const auto* top = member(*logprobs, "top_logprobs")) {  // OpenAI legacy completions
      if (!top->is_array() || top->empty()) bad_response(where, "choices[0].logprobs.top_logprobs", "empty or not an array");
      const auto& first = (*top)[0];
      const std::string f = "choices[0].logprobs.top_logprobs[0]";
      if (!first.is_object()) bad_response(where, f, "of type " + std::string(first.type_name()) + ", expected an object");
      for (auto it = first.begin(); it != first.end(); ++it) {
        const int32_t id = id_of_key(it.key(), f);
        const auto& v = it.value();
        if (!v.is_number() || !(v.get<double>() <= 1e-3)) {
          detail::checked_logprob(v, where, f + "['" + it.key() + "']");  // throws, naming the key
        }
        const float lp = static_cast<float>(std::min(v.get<double>(), 0.0));
        if (id >= 0) add(id, lp);
      }
    } else if (const auto* content = member(*logprobs, "content")) {  // chat-style (llama.cpp /v1)
      if (!content->is_array() || content->empty()) bad_response(where, "choices[0].logprobs.content", "empty or not an array");
      const auto* top = member((*content)[0], "top_logprobs");
      if (top == nullptr) bad_response(where, "choices[0].logprobs.content[0]", "without top_logprobs");
      entries(*top, "choices[0].logprobs.content[0].top_logprobs");
    } else {
      bad_response(where, "choices[0].logprobs", "without top_logprobs or content");
    }
  }
  if (out.top.empty()) {
    bad_response(where, "no top log-probs", out.unmapped > 0 ? "that map to local token ids" : "(was logprobs > 0 sent?)");
  }
}

}  // namespace genarm::remote
