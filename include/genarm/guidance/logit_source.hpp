// LogitSource: anything that, for its own token history, yields next-token logits and accepts the
// next token. The guided policies are templates over this concept, so the built-in Transformer,
// a user's own inference engine, or a test's hand-written toy plug in without virtual calls in the
// per-token path.
//
// Required:            prefill(tokens)   append a prompt (several tokens) to the history
//                      advance(token)    append one generated token
//                      logits()          next-token logits after the last token (span, >= the
//                                        tokenizer's vocabulary; extra padded rows are ignored)
//                      vocab_size()      length of logits()
//                      reset()           forget the history
//                      fork()            an independent copy continuing from the same history
// Optional:            reserve(n)        make room for n tokens in total (no allocation later)
//                      truncate(n)       drop tokens after the first n (rollback)
//                      length()          tokens in the history
//
// The built-in implementation is TransformerSource (guidance/transformer_source.hpp); this header
// depends on nothing heavy, so an engine of one's own compiles without genarm's transformer.
#pragma once

#include <concepts>
#include <cstdint>
#include <span>

namespace genarm {

template <typename S>
concept LogitSource = std::copy_constructible<S> &&
    requires(S& s, const S& cs, std::span<const int32_t> tokens, int32_t token) {
      s.prefill(tokens);
      s.advance(token);
      { cs.logits() } -> std::convertible_to<std::span<const float>>;
      { cs.vocab_size() } -> std::convertible_to<size_t>;
      s.reset();
      { cs.fork() } -> std::same_as<S>;
    };

}  // namespace genarm
