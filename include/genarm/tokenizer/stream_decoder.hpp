// genarm::StreamDecoder — incremental detokenization for generation: push ids one at a time,
// get back only text that is final, i.e. that later ids cannot change. The concatenation of
// everything push() and flush() return equals decode() of all the ids at once.
//
// Technique: the prefix_offset / read_offset window of HF's TextStreamer and TGI. The decoder
// keeps a window of recent ids split into an already-emitted part and new ids; each step
// decodes the window and emits what the new ids added to the decoded text. Decoding a window
// rather than everything keeps a step O(window) instead of O(sequence), and a window that starts
// right after an emitted id decodes the same way as the full sequence does there (a decoder's
// "first token" rules, such as Strip or Metaspace, apply to the window's first id in both the
// emitted prefix and the new text, so they cancel out).
// Text is withheld while it is not final:
//  - when it ends in U+FFFD: the bytes may be an incomplete UTF-8 sequence that the next id
//    completes (ByteLevel decoding);
//  - right after a byte-fallback token "<0xNN>": HF decodes a whole run of byte tokens at once
//    and turns an invalid run into one U+FFFD per byte, so the run's text is only known when the
//    run ends.
// flush() returns whatever is left (genuinely invalid bytes as U+FFFD) and resets the decoder.
// Cost: O(1) amortised per id while text is withheld for a byte-fallback run, otherwise one or
// two decodes of a window of a few ids; the window only grows while the output keeps ending in
// U+FFFD, which valid UTF-8 output never does for more than three bytes. Once warm, push()
// allocates nothing but the returned string (short strings live inline).
// Ownership: references (does not own) a Tokenizer, which must outlive it. Thread-safety: not
// thread-safe (one per generation).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "genarm/core/error.hpp"
#include "genarm/core/utf8.hpp"
#include "genarm/tokenizer/tokenizer.hpp"

namespace genarm {

class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = true)
      : tokenizer_(&tokenizer), skip_special_tokens_(skip_special_tokens) {}

  // Adds one id; returns the newly completed text (possibly empty). Throws kInvalidArgument for
  // an id outside the vocabulary.
  std::string push(int32_t id) {
    tokenizer_->id_to_token(id);  // validates
    window_.push_back(id);
    if (tokenizer_->skipped_in_decode(id, skip_special_tokens_)) return {};
    if (!tokenizer_->is_decode_cut_point(id)) return {};
    tokenizer_->decode_into(window_, skip_special_tokens_, text_, scratch_);
    if (text_.size() <= emitted_text_.size() || utf8::ends_with_replacement(text_)) return {};
    return advance();
  }

  // Returns the remaining text and resets the decoder for a new sequence.
  std::string flush() {
    std::string out;
    if (window_.size() > emitted_) {
      tokenizer_->decode_into(window_, skip_special_tokens_, text_, scratch_);
      if (text_.size() > emitted_text_.size()) out = text_.substr(kept_prefix());
    }
    reset();
    return out;
  }

  // Starts the continuation of `context` (a prompt): later output is the text the new ids add after
  // decode(context), e.g. the space of a SentencePiece word start. Trailing context ids whose text
  // is still incomplete UTF-8 count as new: the continuation that completes them shows the
  // completed characters.
  void prime(std::span<const int32_t> context) {
    reset();
    // kPrimeWindow ids that have text: skipped special tokens do not count, or a prompt ending in
    // many of them leaves a window without text, and the continuation decodes as a text's start
    // (the SentencePiece word-start space stripped).
    size_t begin = context.size();
    for (size_t kept = 0; begin > 0 && kept < kPrimeWindow; --begin) {
      if (!tokenizer_->skipped_in_decode(context[begin - 1], skip_special_tokens_)) ++kept;
    }
    while (begin > 0 && !tokenizer_->is_decode_cut_point(context[begin - 1])) --begin;
    window_.assign(context.begin() + static_cast<ptrdiff_t>(begin), context.end());
    size_t complete = window_.size();
    for (;;) {
      tokenizer_->decode_into(std::span<const int32_t>(window_.data(), complete), skip_special_tokens_,
                              emitted_text_, scratch_);
      if (complete == 0 || complete + 4 == window_.size() || !utf8::ends_with_replacement(emitted_text_)) break;
      --complete;
    }
    emitted_ = complete;
  }

  void reset() {
    window_.clear();
    emitted_ = 0;
    emitted_text_.clear();
  }

 private:
  static constexpr size_t kPrimeWindow = 8;  // context ids kept to decode the continuation against

  // How much of emitted_text_ the window's text still starts with. The window invariant (see
  // the header comment) makes it all of it, except after prime(): a continuation that extends a
  // byte-fallback run ending the context can turn that run into U+FFFDs (HF decodes an invalid
  // run as one U+FFFD per byte). The stream then resumes after the common prefix, cut back to a
  // character boundary, rather than emitting text the ids do not decode to.
  size_t kept_prefix() const {
    const size_t n = std::min(text_.size(), emitted_text_.size());
    size_t i = 0;
    while (i < n && text_[i] == emitted_text_[i]) ++i;
    if (i == emitted_text_.size()) return i;
    while (i > 0 && i < text_.size() && (static_cast<unsigned char>(text_[i]) & 0xC0) == 0x80) --i;
    return i;
  }

  // Emits the new text of the window and slides it: the ids just emitted become its prefix.
  std::string advance() {
    std::string out = text_.substr(kept_prefix());
    window_.erase(window_.begin(), window_.begin() + static_cast<ptrdiff_t>(emitted_));
    emitted_ = window_.size();
    tokenizer_->decode_into(window_, skip_special_tokens_, emitted_text_, scratch_);
    return out;
  }

  const Tokenizer* tokenizer_;
  bool skip_special_tokens_;
  std::vector<int32_t> window_;  // ids from the window start; [0, emitted_) already emitted
  size_t emitted_ = 0;
  std::string emitted_text_;     // decode of window_[0, emitted_)
  std::string text_;             // decode of the whole window
  Tokenizer::DecodeScratch scratch_;
};

}  // namespace genarm
