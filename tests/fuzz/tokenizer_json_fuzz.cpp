// Fuzzes Tokenizer::from_json: the input is parsed as JSON (text the JSON parser rejects ends
// there) and loaded as a tokenizer.json. Mutations are structure-aware (json_mutator.hpp) over
// small tokenizers cut from the fixtures and one of each component type (make_seeds), so mutants
// combine normalizers, pre-tokenizers, regexes, decoders and templates in ways no file has.
// A tokenizer that loads is then used: a few texts are encoded and decoded, and a run of ids is
// decoded one-shot and through the StreamDecoder (tokenizer_checks.hpp).
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <vector>

#include "dictionaries.hpp"
#include "fuzz_support.hpp"
#include "genarm/io/json.hpp"
#include "json_mutator.hpp"
#include "tokenizer_checks.hpp"

namespace {

constexpr std::string_view kProbes[] = {
    "Hello world, it's 2024: 12345678 tokens!",
    "  caf\u00e9 na\u00efve \u00c0\u00c9 stra\u00dfe \u65e5\u672c\u8a9e \U0001F600\U0001F44D\U0001F3FD\t\r\n\n",
    "<s>a</s><unk><|endoftext|>\u2581\u0120<0x41>##x</w>",
    "",
};

}  // namespace

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  static const genarm::fuzz::JsonMutator mutator(genarm::fuzz::kTokenizerWords);
  return mutator.mutate(data, size, max_size, seed);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The production path: size and nesting bounded before nlohmann parses (io::parse_json).
  nlohmann::json json;
  try {
    json = genarm::io::parse_json(std::string_view(reinterpret_cast<const char*>(data), size), "tokenizer.json");
  } catch (const genarm::Error&) {
    return 0;
  }
  std::optional<genarm::Tokenizer> loaded;
  if (!genarm::fuzz::accepts("Tokenizer::from_json", [&] { loaded = genarm::Tokenizer::from_json(json); })) {
    return 0;
  }
  const genarm::Tokenizer& tok = *loaded;
  GENARM_FUZZ_CHECK(genarm::Tokenizer::from_json(json).fingerprint() == tok.fingerprint(),
                    "loading the same JSON twice gives different fingerprints");
  // A tokenizer that refuses a probe (typically a pathological regex over its step budget,
  // about a second under ASan) has shown what it does; more probes would only add up to a timeout.
  for (const std::string_view text : kProbes) {
    if (!genarm::fuzz::check_encode(tok, text, true, "encode")) return 0;
    if (!genarm::fuzz::check_encode(tok, text, false, "encode (no special tokens)")) return 0;
  }
  // Ids among the first 4096 that have a token (a sparse vocabulary may reach 2^24), scrambled.
  std::vector<int32_t> ids;
  for (size_t id = 0; id < tok.vocab_size() && id < 4096 && ids.size() < 48; ++id) {
    if (genarm::fuzz::accepts("id_to_token", [&] { tok.id_to_token(static_cast<int32_t>(id)); })) {
      ids.push_back(static_cast<int32_t>(id));
    }
  }
  for (size_t i = 1; i < ids.size(); i += 3) std::swap(ids[i], ids[ids.size() - i]);
  genarm::fuzz::check_decode(tok, ids, "decode");
  return 0;
}
