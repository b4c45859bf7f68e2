// generate(): the decoding loop. Each step asks the policy for its decoding logits (GenARM's z),
// lets the sampler chain pick a token, records details, streams complete text, and stops at the
// token budget, an EOS, a stop string, the models' context, or when the callback says so.
// Buffers are reserved before the loop: a step allocates nothing beyond short text pieces.
//   Policy:   start(prompt, guide_prompts), next_logits(), advance(token); optionally
//             component_logprob / guided_logprob / num_guides (details), remaining_context and
//             reserve (context handling) — GuidedPolicy has all of them.
// Thread-safety: operates on caller-owned, per-sequence objects (one thread at a time).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "genarm/core/compiled.hpp"
#include "genarm/generate/generation_config.hpp"
#include "genarm/generate/generation_result.hpp"
#include "genarm/generate/stop_strings.hpp"
#include "genarm/sampling/sampler.hpp"
#include "genarm/tokenizer/stream_decoder.hpp"
#include "genarm/tokenizer/tokenizer.hpp"

namespace genarm {

// Receives each piece of new text as soon as it is final. Return false to stop generating.
using StreamCallback = std::function<bool(std::string_view piece)>;

// The prompt of every model: the base's tokens and, optionally, one token list per guide (each
// model may use its own template); empty guide prompts = every guide reads the base's.
struct Prompts {
  std::vector<int32_t> base;
  std::vector<std::vector<int32_t>> guides;
};

namespace detail {

// The decoding loop for a policy that has already read its prompts (start() or a fork of a
// started policy). Fills `result` except prefill_seconds.
template <typename Policy>
void decode_loop(Policy& policy, sampling::Sampler& sampler, const Tokenizer& tokenizer, const Prompts& prompts,
                 const GenerationConfig& config, const StreamCallback& on_text, GenerationResult& result) {
  using Clock = std::chrono::steady_clock;
  const auto t1 = Clock::now();
  result.prompt_tokens = prompts.base.size();
  result.ids.reserve(static_cast<size_t>(config.max_new_tokens));
  if (config.details) {
    result.details.reserve(static_cast<size_t>(config.max_new_tokens));
    if constexpr (requires { policy.num_guides(); }) {
      result.num_guides = policy.num_guides();
      result.guide_logprobs.reserve(static_cast<size_t>(config.max_new_tokens) * result.num_guides);
    }
  }
  result.text.reserve(static_cast<size_t>(config.max_new_tokens) * 8);  // typical bytes per token
  if constexpr (requires { policy.reserve(int64_t{}); }) policy.reserve(config.max_new_tokens);
  sampler.reset();
  for (int32_t t : prompts.base) sampler.accept(t);  // penalties see the prompt, as in HF
  // The text of the new tokens as it reads after the prompt (the prompt primes the decoder, so a
  // SentencePiece word-start space is kept): decode(prompt + new) minus decode(prompt), which is
  // what transformers' text-generation pipeline returns with return_full_text=False.
  StreamDecoder stream(tokenizer, /*skip_special_tokens=*/true);
  stream.prime(prompts.base);
  StopStringFilter stops(config.stop_strings);
  const auto emit = [&](const std::string& text) {
    if (text.empty()) return true;
    result.text += text;
    return on_text ? on_text(text) : true;
  };
  const auto is_eos = [&](int32_t t) {
    if (config.ignore_eos) return false;
    for (int32_t e : config.eos_token_ids) {
      if (e == t) return true;
    }
    return false;
  };

  for (int step = 0;; ++step) {
    const auto z = policy.next_logits();
    const int32_t token = sampler.sample(z);
    result.ids.push_back(token);
    if (config.details) {
      TokenDetail d;
      d.id = token;
      if constexpr (requires { policy.component_logprob(size_t{}, token); policy.num_guides(); }) {
        d.logprob_base = static_cast<float>(policy.component_logprob(0, token));
        for (size_t i = 0; i < policy.num_guides(); ++i) {
          result.guide_logprobs.push_back(static_cast<float>(policy.component_logprob(i + 1, token)));
        }
      }
      if constexpr (requires { policy.guided_logprob(token); }) {
        d.logprob_guided = static_cast<float>(policy.guided_logprob(token));
      }
      d.logprob_sampled = static_cast<float>(sampler.last_logprob());
      result.details.push_back(d);
    }
    const bool eos = is_eos(token);
    if (!emit(stops.push(stream.push(token)))) {
      result.stop_reason = StopReason::kCallback;
      break;
    }
    if (stops.stopped()) {
      result.stop_reason = StopReason::kStopString;
      break;
    }
    if (eos) {
      result.stop_reason = StopReason::kEos;
      break;
    }
    if (step + 1 >= config.max_new_tokens) {
      result.stop_reason = StopReason::kLength;
      break;
    }
    if constexpr (requires { policy.remaining_context(); }) {
      if (policy.remaining_context() < 1) {
        result.stop_reason = StopReason::kContext;
        break;
      }
    }
    policy.advance(token);
    sampler.accept(token);
  }
  if (!stops.stopped() && result.stop_reason != StopReason::kCallback) {
    emit(stops.push(stream.flush()));
    emit(stops.finish());
  }
  result.decode_seconds = std::chrono::duration<double>(Clock::now() - t1).count();
}

}  // namespace detail

template <typename Policy>
GenerationResult generate(Policy& policy, sampling::Sampler& sampler, const Tokenizer& tokenizer,
                          const Prompts& prompts, const GenerationConfig& config,
                          const StreamCallback& on_text = {}) {
  using Clock = std::chrono::steady_clock;
  config.validate();
  GenerationResult result;
  const auto t0 = Clock::now();
  policy.start(prompts.base, prompts.guides);
  result.prefill_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  detail::decode_loop(policy, sampler, tokenizer, prompts, config, on_text, result);
  return result;
}

// Continues a policy that already read `prompts` (e.g. a fork of a started policy, sharing its
// prefill): the decoding loop only.
template <typename Policy>
GenerationResult generate_started(Policy& policy, sampling::Sampler& sampler, const Tokenizer& tokenizer,
                                  const Prompts& prompts, const GenerationConfig& config,
                                  const StreamCallback& on_text = {}) {
  config.validate();
  GenerationResult result;
  detail::decode_loop(policy, sampler, tokenizer, prompts, config, on_text, result);
  return result;
}

}  // namespace genarm

#if defined(GENARM_COMPILED_LIB)
// The decoding loop over the built-in policies is compiled once, in genarm::compiled.
#include "genarm/guidance/args_policy.hpp"
#include "genarm/guidance/guided_policy.hpp"
#include "genarm/guidance/transformer_source.hpp"
namespace genarm {
#define GENARM_EXTERN_GENERATE(Policy)                                                                     \
  extern template GenerationResult generate<Policy>(Policy&, sampling::Sampler&, const Tokenizer&,        \
                                                    const Prompts&, const GenerationConfig&,             \
                                                    const StreamCallback&);                              \
  extern template GenerationResult generate_started<Policy>(Policy&, sampling::Sampler&, const Tokenizer&, \
                                                            const Prompts&, const GenerationConfig&,     \
                                                            const StreamCallback&)
GENARM_EXTERN_GENERATE(GuidedPolicy<TransformerSource>);
GENARM_EXTERN_GENERATE(ArgsPolicy<TransformerSource>);
#undef GENARM_EXTERN_GENERATE
}  // namespace genarm
#endif
