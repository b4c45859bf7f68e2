// SequenceDecoder: the per-sequence half of the decoding loop — picking a token from the policy's
// decoding logits with the sampler chain, the per-token details, streaming the text through the
// StreamDecoder and the stop strings, and the stop rules (callback, stop string, EOS, token
// budget, context). generate() (one sequence) and BatchGenerator (many sequences stepped
// together) both run it, so they give the same tokens and text for the same inputs.
// A step is: sample(policy) -> the new text (maybe empty); the caller shows it (its callback says
// whether to go on); proceed(policy, shown) -> true if the caller should append token() to the
// policy and ask again. finish() ends the sequence (the rest of the text).
//   Policy:   next_logits(); optionally component_logprob / guided_logprob / num_guides
//             (details), remaining_context and reserve (context handling).
// Buffers are reserved in begin(): a step allocates nothing beyond short text pieces.
// Ownership: refers to the tokenizer, sampler and config it was given (they must outlive it);
// owns the result it builds.
// Thread-safety: not thread-safe (one per sequence).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "genarm/core/math.hpp"
#include "genarm/generate/generation_config.hpp"
#include "genarm/generate/generation_result.hpp"
#include "genarm/generate/stop_strings.hpp"
#include "genarm/sampling/sampler.hpp"
#include "genarm/tokenizer/stream_decoder.hpp"
#include "genarm/tokenizer/tokenizer.hpp"

namespace genarm {

// The prompt of every model: the base's tokens and, optionally, one token list per guide (each
// model may use its own template); empty guide prompts = every guide reads the base's.
struct Prompts {
  std::vector<int32_t> base;
  std::vector<std::vector<int32_t>> guides;
};

class SequenceDecoder {
 public:
  SequenceDecoder(const Tokenizer& tokenizer, sampling::Sampler& sampler, const GenerationConfig& config)
      : sampler_(&sampler), config_(&config), stream_(tokenizer, /*skip_special_tokens=*/true),
        stops_(config.stop_strings) {}

  // Starts decoding after `prompts` (which the policy has read): resets the sampler and shows it
  // the prompt (penalties see the prompt, as in HF), primes the text stream with it (so the new
  // text reads as it continues the prompt, e.g. keeping a SentencePiece word-start space), and
  // reserves every buffer of the loop.
  template <typename Policy>
  void begin(Policy& policy, const Prompts& prompts) {
    start_ = Clock::now();
    const size_t budget = static_cast<size_t>(config_->max_new_tokens);
    result_.prompt_tokens = prompts.base.size();
    result_.ids.reserve(budget);
    if (config_->details) {
      result_.details.reserve(budget);
      if constexpr (requires { policy.num_guides(); }) {
        result_.num_guides = policy.num_guides();
        result_.guide_logprobs.reserve(budget * result_.num_guides);
      }
    }
    if (config_->top_logprobs > 0) {
      result_.top_k = static_cast<size_t>(config_->top_logprobs);
      if constexpr (requires { policy.vocab_size(); }) {
        result_.top_k = std::min(result_.top_k, policy.vocab_size());
        order_.resize(policy.vocab_size());
      }
      result_.top_logprobs.reserve(budget * result_.top_k);
    }
    result_.text.reserve(budget * 8);  // typical bytes per token
    if constexpr (requires { policy.reserve(int64_t{}); }) policy.reserve(config_->max_new_tokens);
    sampler_->reset();
    for (int32_t t : prompts.base) sampler_->accept(t);
    stream_.prime(prompts.base);
  }

  // Picks the next token from policy.next_logits() and returns the text it completes (empty while
  // the text is not final or may still become a stop string).
  template <typename Policy>
  const std::string& sample(Policy& policy) {
    const auto z = policy.next_logits();
    token_ = sampler_->sample(z);
    result_.ids.push_back(token_);
    if (config_->details) {
      TokenDetail d;
      d.id = token_;
      if constexpr (requires { policy.component_logprob(size_t{}, token_); policy.num_guides(); }) {
        d.logprob_base = static_cast<float>(policy.component_logprob(0, token_));
        for (size_t i = 0; i < policy.num_guides(); ++i) {
          result_.guide_logprobs.push_back(static_cast<float>(policy.component_logprob(i + 1, token_)));
        }
      }
      if constexpr (requires { policy.guided_logprob(token_); }) {
        d.logprob_guided = static_cast<float>(policy.guided_logprob(token_));
      }
      d.logprob_sampled = static_cast<float>(sampler_->last_logprob());
      result_.details.push_back(d);
    }
    if (result_.top_k > 0) record_top(policy, z);
    piece_ = stops_.push(stream_.push(token_));
    result_.text += piece_;
    return piece_;
  }

  // Whether the sequence goes on after the token of the last sample(): `shown` is what the
  // caller's callback said of its text (true when there was none). The stop reasons in order of
  // precedence: callback, stop string, EOS, token budget, the models' context.
  template <typename Policy>
  bool proceed(Policy& policy, bool shown) {
    bool eos = false;
    if (!config_->ignore_eos) {
      for (int32_t e : config_->eos_token_ids) eos |= e == token_;
    }
    if (!shown) return stop(StopReason::kCallback);
    if (stops_.stopped()) return stop(StopReason::kStopString);
    if (eos) return stop(StopReason::kEos);
    if (result_.ids.size() >= static_cast<size_t>(config_->max_new_tokens)) return stop(StopReason::kLength);
    if constexpr (requires { policy.remaining_context(); }) {
      if (policy.remaining_context() < 1) return stop(StopReason::kContext);
    }
    sampler_->accept(token_);
    return true;
  }

  // Ends the sequence: the text still held back (an incomplete last character, a possible stop
  // string's prefix) goes to `on_text` unless a stop string or the callback ended it. Fills
  // decode_seconds.
  template <typename OnText>
  void finish(OnText&& on_text) {
    if (!stops_.stopped() && result_.stop_reason != StopReason::kCallback) {
      for (int part = 0; part < 2; ++part) {
        piece_ = part == 0 ? stops_.push(stream_.flush()) : stops_.finish();
        if (piece_.empty()) continue;
        result_.text += piece_;
        on_text(std::string_view(piece_));
      }
    }
    result_.decode_seconds = std::chrono::duration<double>(Clock::now() - start_).count();
  }

  int32_t token() const { return token_; }
  GenerationResult& result() { return result_; }
  const GenerationResult& result() const { return result_; }

 private:
  using Clock = std::chrono::steady_clock;

  // The top_k entries of log softmax(z), most likely first (ties: lower id).
  template <typename Policy>
  void record_top(Policy& policy, std::span<const float> z) {
    if (order_.size() != z.size()) order_.resize(z.size());
    for (size_t v = 0; v < order_.size(); ++v) order_[v] = static_cast<int32_t>(v);
    const auto better = [&](int32_t a, int32_t b) {
      const float za = z[static_cast<size_t>(a)], zb = z[static_cast<size_t>(b)];
      return za > zb || (za == zb && a < b);
    };
    const auto k = static_cast<std::ptrdiff_t>(std::min(result_.top_k, z.size()));
    std::partial_sort(order_.begin(), order_.begin() + k, order_.end(), better);
    for (std::ptrdiff_t i = 0; i < k; ++i) {
      const int32_t id = order_[static_cast<size_t>(i)];
      double lp;
      if constexpr (requires { policy.guided_logprob(id); }) {
        lp = policy.guided_logprob(id);
      } else {
        if (!normalizer_valid_) normalizer_ = log_sum_exp(z);
        normalizer_valid_ = true;
        lp = static_cast<double>(z[static_cast<size_t>(id)]) - normalizer_;
      }
      result_.top_logprobs.push_back({id, static_cast<float>(lp)});
    }
    normalizer_valid_ = false;
  }

  bool stop(StopReason reason) {
    result_.stop_reason = reason;
    return false;
  }

  sampling::Sampler* sampler_;
  const GenerationConfig* config_;
  StreamDecoder stream_;
  StopStringFilter stops_;
  GenerationResult result_;
  std::string piece_;  // the text of the last sample() or finish() part
  std::vector<int32_t> order_;  // (vocab) ids, for the top log-probs
  double normalizer_ = 0.0;
  bool normalizer_valid_ = false;
  int32_t token_ = 0;
  Clock::time_point start_;
};

}  // namespace genarm
