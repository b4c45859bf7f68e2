// generate(): the decoding loop of one sequence. Each step asks the policy for its decoding logits
// (GenARM's z), lets the sampler chain pick a token, records details, streams complete text, and
// stops at the token budget, an EOS, a stop string, the models' context, or when the callback says
// so (the per-sequence part is SequenceDecoder, which BatchGenerator shares).
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
#include "genarm/generate/sequence_decoder.hpp"
#include "genarm/generate/stop_strings.hpp"
#include "genarm/sampling/sampler.hpp"
#include "genarm/tokenizer/stream_decoder.hpp"
#include "genarm/tokenizer/tokenizer.hpp"

namespace genarm {

// Receives each piece of new text as soon as it is final. Return false to stop generating.
using StreamCallback = std::function<bool(std::string_view piece)>;

namespace detail {

// The decoding loop for a policy that has already read its prompts (start() or a fork of a
// started policy). Fills `result` except prefill_seconds.
template <typename Policy>
void decode_loop(Policy& policy, sampling::Sampler& sampler, const Tokenizer& tokenizer, const Prompts& prompts,
                 const GenerationConfig& config, const StreamCallback& on_text, GenerationResult& result) {
  SequenceDecoder decoder(tokenizer, sampler, config);
  decoder.begin(policy, prompts);
  for (;;) {
    const std::string& piece = decoder.sample(policy);
    const bool shown = piece.empty() || !on_text || on_text(piece);
    if (!decoder.proceed(policy, shown)) break;
    policy.advance(decoder.token());
  }
  decoder.finish([&](std::string_view piece) {
    if (on_text) on_text(piece);
  });
  const double prefill = result.prefill_seconds;
  result = std::move(decoder.result());
  result.prefill_seconds = prefill;
  result.cost_seconds = result.prefill_seconds + result.decode_seconds;
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
