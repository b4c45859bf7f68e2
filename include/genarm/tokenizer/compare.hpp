// Comparing two tokenizers for reward-guided decoding: can token ids produced by `base` be read
// by a model trained with `other`? (Tokenizer::compare; GuidedModel checks every ARM with it.)
//
// What is compared, and why:
//  - every id the base has (model vocabulary and added tokens): present in both, the same
//    string, an added token in both or in neither, special in both or in neither;
//  - the BPE model's rules: type, merges (as token strings, in rank order), options
//    (unk_token, continuing_subword_prefix, end_of_word_suffix, fuse_unk, byte_fallback,
//    ignore_merges);
//  - the normalizer, pre-tokenizer, post-processor and decoder, each by its own fingerprint
//    (their behaviour, whatever the file's formatting), not the file as a whole.
// Tokens `other` has beyond the base's vocabulary (the "[PAD]" a fine-tune added at id 32000)
// are allowed and listed: decoding never produces them, and their logits are cut away before
// the log-softmax, as the GenARM authors' code does. Differences in how an added token present in
// both is matched in raw text (lstrip, rstrip, single_word, normalized — files saved by different
// transformers versions disagree on these) are notes, not differences: the base tokenizer alone
// encodes prompts. A smaller `other` (fewer ids than the base) is a difference naming both sizes.
// Thread-safety: plain value types.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace genarm::tokenizer {

// A token one tokenizer has beyond another's vocabulary.
struct ExtraToken {
  int32_t id = 0;
  std::string content;
  bool added = false;    // an added token (tokenizer.json "added_tokens"), else a model token
  bool special = false;  // an added token with special=true
};

// The result of Tokenizer::compare(other): how `other` reads the ids of this (the base)
// tokenizer.
struct Comparison {
  // Where the first difference is.
  enum class Kind {
    kNone,           // other reads every base id as the base does
    kSmaller,        // other has fewer ids than the base
    kToken,          // a different token (or presence, added or special status) at one id
    kModel,          // a different BPE model: type, merges or options
    kNormalizer,
    kPreTokenizer,
    kPostProcessor,
    kDecoder,
  };

  size_t base_size = 0;   // vocab_size() of the base (max id + 1)
  size_t other_size = 0;  // vocab_size() of the other
  Kind kind = Kind::kNone;
  // The first difference as one clause naming the id and both tokens, or the component and both
  // descriptions, e.g. "at id 500, '▁the' in the base and '▁tha' in the ARM". Empty if none.
  std::string difference;
  std::optional<int32_t> differing_id;   // set for kToken
  std::vector<ExtraToken> extra_tokens;  // other's ids >= base_size, in id order
  // Accepted differences worth telling the user (one clause each), e.g. "'</s>' (id 2) has
  // normalized=false in the base and normalized=true in the ARM".
  std::vector<std::string> notes;

  // True when base ids mean the same to other (extra tokens and notes allowed).
  bool compatible() const { return kind == Kind::kNone; }
  // True when nothing at all differs.
  bool identical() const { return compatible() && extra_tokens.empty() && notes.empty() && other_size == base_size; }
};

// 'token' for messages: control characters, quotes and backslashes escaped, long tokens cut.
std::string quote_token(std::string_view token);

// "1 extra token: 32000 '[PAD]' (special)" — the extra tokens in a few words, the first few
// listed (real folders add one to a few hundred).
std::string describe_extra_tokens(const std::vector<ExtraToken>& extra, size_t max_listed = 5);

// What a compatible comparison accepted, in one clause ("" when identical): "1 extra token: 32000
// '[PAD]' (special) beyond the base vocabulary of 32000 tokens, cut away when decoding", then the
// notes. Callers put the model's name in front.
std::string describe_accepted(const Comparison& c);

}  // namespace genarm::tokenizer
