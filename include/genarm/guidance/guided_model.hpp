// GuidedModel: a frozen base model and its ARMs loaded from Hugging Face folders, with the one
// tokenizer they must share — the object an application keeps for its lifetime and asks for a
// fresh GuidedPolicy per request (with that request's weights and beta).
// The decoding vocabulary is the base tokenizer's: every model's logits are cut to it before
// their log-softmax, as the GenARM authors' code does. Loading checks that every ARM reads the
// base's token ids as the base does (GenARM combines token log-probabilities, so the ids must
// mean the same thing; Tokenizer::compare): the same token at every base id, the same merges and
// BPE options, the same normalizer, pre-tokenizer, post-processor and decoder. An ARM may have
// tokens beyond the base's vocabulary (a "[PAD]" added for training, with its embedding and
// lm_head rows: 32001 rows against 32000): they are cut away and reported in
// compatibility_notes(). A real mismatch, or an ARM with a smaller vocabulary (tokenizer or logit
// rows), is an Error(kInvalidArgument) naming the first differing id and both tokens, the
// differing component, or both sizes.
// Ownership: owns the models (weights memory-mapped, shared with every policy it creates).
// Thread-safety: immutable after load — thread-safe; policies are per sequence.
#pragma once

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "genarm/core/compiled.hpp"
#include "genarm/core/error.hpp"
#include "genarm/guidance/guided_policy.hpp"
#include "genarm/guidance/transformer_source.hpp"
#include "genarm/model/transformer.hpp"
#include "genarm/tokenizer/tokenizer.hpp"

namespace genarm {

class GuidedModel {
 public:
  // An ARM folder may be a PEFT LoRA adapter: of this base (its base_model_name_or_path is
  // base_dir, or not a local folder) it shares the base's weights — GenARM at the cost of one
  // model in the batch engine; of another local base, it is applied to that one.
  static GuidedModel load(const std::filesystem::path& base_dir,
                          const std::vector<std::filesystem::path>& arm_dirs = {});

  // One loaded model with its tokenizer and a name for messages (its folder).
  struct Part {
    std::string name;
    Tokenizer tokenizer;
    model::Transformer model;
  };
  // Builds from models loaded elsewhere (shared weights: nothing is copied).
  static GuidedModel assemble(Part base, std::vector<Part> arms);

  const Tokenizer& tokenizer() const { return tokenizer_; }
  const model::Transformer& base() const { return base_; }
  const std::vector<model::Transformer>& arms() const { return arms_; }
  size_t num_arms() const { return arms_.size(); }
  // The decoding vocabulary: the base tokenizer's.
  size_t vocab_size() const { return tokenizer_.vocab_size(); }

  // What loading accepted although an ARM's tokenizer is not identical to the base's: one line
  // per such ARM, e.g. "ARM /m/arm: 1 extra token: 32000 '[PAD]' (special) beyond the base
  // vocabulary of 32000 tokens, cut away when decoding". Empty when every ARM has the base's
  // tokenizer.
  const std::vector<std::string>& compatibility_notes() const { return notes_; }
  // The tokens ARM `arm` has beyond the decoding vocabulary (never produced; logits cut away).
  const std::vector<tokenizer::ExtraToken>& arm_extra_tokens(size_t arm) const { return arm_extra_tokens_.at(arm); }

  // EOS ids: the base's config.json / generation_config.json, else the tokenizer's usual
  // end-of-text special tokens.
  std::vector<int32_t> eos_token_ids() const;

  // How a thread pool speeds up a policy: by splitting each forward pass across its threads, or by
  // running the base's and the ARMs' forward passes side by side (one thread each). kAuto picks
  // side by side when no single model holds most of the weights (each thread then has a similar
  // share of the work and no per-layer synchronisation), within otherwise.
  enum class Parallelism { kAuto, kWithinModels, kAcrossModels };

  // A new policy for one sequence. `pool` (optional) runs its forward passes on several threads.
  GuidedPolicy<TransformerSource> new_policy(const Guidance& guidance = {}, ThreadPool* pool = nullptr,
                                             Parallelism parallelism = Parallelism::kAuto) const;

 private:
  // True when the largest model holds at most 60% of the weights read per token.
  bool balanced_for_across() const;

  GuidedModel(Tokenizer tokenizer, model::Transformer base);

  // Throws unless `arm` reads the base's ids as the base does; returns the comparison.
  static tokenizer::Comparison check_tokenizer(const Tokenizer& base, const std::string& base_name,
                                               const Tokenizer& arm, const std::string& arm_name);
  static void check_causal(const model::Transformer& m, const std::string& name);
  void check_vocabulary(const std::string& base_name) const;

  Tokenizer tokenizer_;
  model::Transformer base_;
  std::vector<model::Transformer> arms_;
  std::vector<std::string> arm_names_;
  std::vector<std::vector<tokenizer::ExtraToken>> arm_extra_tokens_;  // (ARMs)
  std::vector<std::string> notes_;
};

}  // namespace genarm

#if defined(GENARM_HEADER_ONLY)
#include "genarm/guidance/guided_model-inl.hpp"
#endif
