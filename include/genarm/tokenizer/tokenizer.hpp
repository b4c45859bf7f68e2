// genarm::Tokenizer — loads the tokenizer.json of a Hugging Face checkpoint and encodes /
// decodes text to exactly the ids HF `tokenizers` produces.
//
// Pipeline (as in HF): added tokens are cut out of the raw text first (normalized=false ones),
// each remaining part is normalized, normalized=true added tokens are cut out of it, the rest is
// pre-tokenized into pieces and each piece is encoded by the BPE model; finally the
// post-processor adds BOS/EOS-style tokens when add_special_tokens is true. Decoding maps ids to
// token strings (skipping special tokens on request) and runs the decoder chain.
//
// Choices worth knowing:
//  - Input that is not valid UTF-8 is refused: encode throws genarm::Error(kTokenizer) naming
//    the byte offset where the first ill-formed sequence starts (HF only takes Rust strings, so
//    there is no HF behaviour to mirror, and guessing a repair would hide corrupt prompts).
//  - "truncation" and "padding" in tokenizer.json are ignored: transformers resets them on
//    every call unless asked to truncate or pad, and genarm encodes prompts in full.
//  - Only the BPE model is implemented (GPT-2, Llama 1/2/3, Mistral, Qwen, ...); WordPiece,
//    Unigram and WordLevel are refused with kUnsupported naming the type.
//  - An id outside the vocabulary makes decode / id_to_token throw kInvalidArgument (HF would
//    silently drop it).
//  - The ids of added tokens are the "id" fields of tokenizer.json (HF re-derives them and only
//    warns on a difference; files written by HF agree).
// Loading errors name the file and the JSON key path (io::JsonView), e.g.
// "tokenizer.json: model.merges[12]: expected a string or a pair of strings, got an integer 12".
//
// Ownership: a Tokenizer shares its immutable loaded state; copies are cheap and share it.
// Thread-safety: thread-safe — every const method may be called concurrently (the BPE word
// cache is internally locked; encode keeps its working memory per thread).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "genarm/core/compiled.hpp"
#include "genarm/core/error.hpp"
#include "genarm/tokenizer/compare.hpp"

namespace genarm {

namespace io {
class JsonView;
}

namespace tokenizer {

namespace detail {
struct TokenizerState;
struct DecodeScratchImpl;
}  // namespace detail

// Reusable working memory for Tokenizer::decode_into (one per thread / per stream): allocated
// once with the scratch, grown by use, then reused without allocation. Copies start empty.
class DecodeScratch {
 public:
  DecodeScratch();
  ~DecodeScratch();
  DecodeScratch(const DecodeScratch&);
  DecodeScratch& operator=(const DecodeScratch&);
  DecodeScratch(DecodeScratch&&) noexcept;
  DecodeScratch& operator=(DecodeScratch&&) noexcept;
  detail::DecodeScratchImpl& impl();  // (re)created after a move

 private:
  std::unique_ptr<detail::DecodeScratchImpl> impl_;
};

}  // namespace tokenizer

class Tokenizer {
 public:
  struct Encoding {
    std::vector<int32_t> ids;
    std::vector<std::string> tokens;
  };
  using DecodeScratch = tokenizer::DecodeScratch;

  // Loads `json_or_dir`: a tokenizer.json file, or a model folder containing one.
  static Tokenizer from_file(const std::filesystem::path& json_or_dir);

  // Builds a tokenizer from parsed tokenizer.json content; `origin` prefixes error messages.
  static Tokenizer from_json(const nlohmann::json& j, std::string_view origin = "tokenizer.json");

  Encoding encode_with_tokens(std::string_view text, bool add_special_tokens = true) const;

  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const;

  // Throws kInvalidArgument for an id outside the vocabulary, naming it.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;

  // decode() into `out` with caller-owned working memory: no allocation once warm.
  void decode_into(std::span<const int32_t> ids, bool skip_special_tokens, std::string& out,
                   DecodeScratch& scratch) const;

  // Max id (model vocabulary and added tokens) + 1.
  size_t vocab_size() const;

  std::optional<int32_t> token_to_id(std::string_view token) const;

  // Throws kInvalidArgument if `id` has no token.
  std::string_view id_to_token(int32_t id) const;

  // True for an added token declared special=true.
  bool is_special(int32_t id) const;

  // True when decode(..., skip_special_tokens) drops `id` (its text is a special token's).
  bool skipped_in_decode(int32_t id, bool skip_special_tokens) const;

  // False when the text decoded before `id` may still change with the ids after it (a
  // byte-fallback token that may continue a UTF-8 sequence). See StreamDecoder.
  bool is_decode_cut_point(int32_t id) const;

  // Hash of everything that affects encode/decode; equal for identical tokenizers whatever file
  // (formatting, key order, merge notation) they were loaded from.
  uint64_t fingerprint() const;

  // How `other` reads the token ids of this tokenizer (the base): see tokenizer/compare.hpp.
  // The labels name both sides in the comparison's sentences.
  tokenizer::Comparison compare(const Tokenizer& other, std::string_view base_label = "the base",
                                std::string_view other_label = "the other tokenizer") const;

  // Max id of the BPE model's own vocabulary + 1 (vocab_size() also counts added tokens).
  size_t model_vocab_size() const;
  // The number of added tokens (tokenizer.json "added_tokens" with a content).
  size_t added_token_count() const;
  // The tokens with ids >= `first_id`, in id order (e.g. those beyond a model's embedding rows).
  std::vector<tokenizer::ExtraToken> tokens_from(size_t first_id) const;

 private:
  using State = tokenizer::detail::TokenizerState;

  Tokenizer() = default;

  bool valid_id(int32_t id) const;
  void check_id(int32_t id, std::string_view what) const;

  static std::shared_ptr<const State> load(const io::JsonView& root);
  // "Sequence[Prepend, Replace]": a component's type (and its children's), for messages.
  static std::string describe_component(const nlohmann::json& j);

  void encode_impl(std::string_view text, bool add_special_tokens, std::vector<int32_t>& ids,
                   std::vector<std::string>* tokens) const;

  static std::string hex_byte(unsigned char b);

  std::shared_ptr<const State> state_;
};

}  // namespace genarm

#if defined(GENARM_HEADER_ONLY)
#include "genarm/tokenizer/tokenizer-inl.hpp"
#include "genarm/tokenizer/compare-inl.hpp"
#endif
