// Invariants of a loaded Tokenizer that the tokenizer fuzzers check on every text and id
// sequence they try. Each returns normally or reports a finding.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "genarm/core/utf8.hpp"
#include "genarm/tokenizer/stream_decoder.hpp"
#include "genarm/tokenizer/tokenizer.hpp"

namespace genarm::fuzz {

// decode of any valid ids: valid UTF-8, and the StreamDecoder, fed one id at a time, emits
// exactly the same text in total (for both skip_special_tokens settings). A fuzzed tokenizer may
// refuse to decode (a Replace decoder's regex over its step budget) with a genarm::Error; the
// stream must then not be the one that differs. Returns false when decode refused (a finding if
// `must_accept` is set: the real tokenizers decode every valid id).
inline bool check_decode(const Tokenizer& tok, std::span<const int32_t> ids, std::string_view name,
                         bool must_accept = false) {
  for (const bool skip : {false, true}) {
    std::string text;
    std::string error;
    if (!accepts(name, [&] { text = tok.decode(ids, skip); }, &error)) {
      GENARM_FUZZ_CHECK(!must_accept, name, ": decode refused valid ids: ", error);
      return false;
    }
    GENARM_FUZZ_CHECK(utf8::is_valid(text), name, ": decode returned invalid UTF-8");
    std::string streamed;
    const bool ok = accepts(name, [&] {
      StreamDecoder stream(tok, skip);
      for (const int32_t id : ids) {
        const std::string piece = stream.push(id);
        GENARM_FUZZ_CHECK(utf8::is_valid(piece), name, ": StreamDecoder::push returned invalid UTF-8");
        streamed += piece;
      }
      streamed += stream.flush();
    });
    GENARM_FUZZ_CHECK(ok, name, ": StreamDecoder threw where decode did not");
    GENARM_FUZZ_CHECK(streamed == text, name, " (skip_special_tokens ", skip, "): streamed '", streamed,
                      "' != decoded '", text, "'");
  }
  return true;
}

// encode / encode_with_tokens of `text` (valid UTF-8, or encode must refuse it) agree, produce ids
// inside the vocabulary whose tokens are the vocabulary's, and decode back to valid UTF-8.
// Returns the ids, or nullopt when encode refused the text or decode its ids (a finding for valid
// text if `must_accept` is set: the real tokenizers encode every valid text).
inline std::optional<std::vector<int32_t>> check_encode(const Tokenizer& tok, std::string_view text,
                                                        bool add_special, std::string_view name,
                                                        bool must_accept = false) {
  std::vector<int32_t> ids;
  std::string error;
  const bool valid = utf8::is_valid(text);
  const bool ok = accepts(name, [&] { ids = tok.encode(text, add_special); }, &error);
  if (!valid) {
    GENARM_FUZZ_CHECK(!ok, name, ": encode accepted invalid UTF-8");
    return std::nullopt;
  }
  GENARM_FUZZ_CHECK(ok || !must_accept, name, ": encode refused valid UTF-8 text: ", error);
  if (!ok) return std::nullopt;
  Tokenizer::Encoding e;
  const bool ok_tokens = accepts(name, [&] { e = tok.encode_with_tokens(text, add_special); });
  GENARM_FUZZ_CHECK(ok_tokens, name, ": encode succeeded, encode_with_tokens threw");
  GENARM_FUZZ_CHECK(e.ids == ids, name, ": encode and encode_with_tokens disagree");
  GENARM_FUZZ_CHECK(e.tokens.size() == ids.size(), name, ": ", e.tokens.size(), " tokens for ", ids.size(), " ids");
  for (size_t i = 0; i < ids.size(); ++i) {
    GENARM_FUZZ_CHECK(ids[i] >= 0 && static_cast<size_t>(ids[i]) < tok.vocab_size(), name, ": id ", ids[i],
                      " outside the vocabulary of ", tok.vocab_size());
    bool known = false;
    accepts(name, [&] {
      tok.id_to_token(ids[i]);
      known = true;
    });
    GENARM_FUZZ_CHECK(known, name, ": encode produced id ", ids[i], ", which has no token");
  }
  if (!check_decode(tok, ids, name, must_accept)) return std::nullopt;
  return ids;
}

}  // namespace genarm::fuzz
