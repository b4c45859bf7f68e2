// Fuzzes encoding and decoding with the real tokenizers of the fixtures, loaded once: GPT-2,
// toy-bytelevel (GPT-2 style, 1024 tokens), toy-spm (Llama 2 style with byte fallback) and the
// bundled toy-base model's (Llama 2 style, 4096 tokens).
// Input: byte 0 picks the tokenizer (bits 0-1), add_special_tokens (bit 2) and where the id
// sequence is cut for StreamDecoder::prime (bits 4-7); the remaining bytes are
//   - the text: encode must refuse ill-formed UTF-8 with a genarm::Error and otherwise give ids
//     inside the vocabulary, encode_with_tokens must agree, decode(encode(text)) must give the
//     text back (byte-level tokenizers: always; Llama 2 style: for text without "▁" and
//     special-token strings), and streaming its ids must equal the one-shot decode;
//   - also read as little-endian 16-bit ids (modulo the vocabulary size): decoding them must
//     give valid UTF-8, one-shot and streamed alike, and after prime(context) the stream must
//     emit the text the new ids add after decode(context).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "tokenizer_checks.hpp"

namespace {

struct Loaded {
  genarm::Tokenizer tokenizer;
  std::string_view name;
  bool byte_level;  // lossless for every valid UTF-8 text
};

const std::vector<Loaded>& tokenizers() {
  static const std::vector<Loaded> all = [] {
    const auto hf = genarm::fuzz::source_dir() / "tests" / "fixtures" / "hf" / "tokenizers";
    std::vector<Loaded> out;
    out.push_back({genarm::Tokenizer::from_file(hf / "gpt2"), "gpt2", true});
    out.push_back({genarm::Tokenizer::from_file(hf / "toy-bytelevel"), "toy-bytelevel", true});
    out.push_back({genarm::Tokenizer::from_file(hf / "toy-spm"), "toy-spm", false});
    out.push_back({genarm::Tokenizer::from_file(genarm::fuzz::source_dir() / "models" / "toy-base"),
                   "toy-base", false});
    return out;
  }();
  return all;
}

// Llama 2 style tokenizers lose a "▁" (it decodes to a space) and the spaces the normalizer adds
// around special-token strings.
bool spm_lossless(std::string_view text) {
  for (const std::string_view s : {"\u2581", "<unk>", "<s>", "</s>"}) {
    if (text.find(s) != std::string_view::npos) return false;
  }
  return true;
}

void check_prime(const genarm::Tokenizer& tok, std::span<const int32_t> context, std::span<const int32_t> fresh,
                 std::string_view name) {
  std::vector<int32_t> all(context.begin(), context.end());
  all.insert(all.end(), fresh.begin(), fresh.end());
  const std::string before = tok.decode(context, true);
  const std::string full = tok.decode(all, true);
  // "The text the new ids add" is only defined when the context's text is final and a prefix.
  if (genarm::utf8::ends_with_replacement(before) || full.compare(0, before.size(), before) != 0) return;
  genarm::StreamDecoder stream(tok, true);
  stream.prime(context);
  std::string streamed;
  for (const int32_t id : fresh) streamed += stream.push(id);
  streamed += stream.flush();
  GENARM_FUZZ_CHECK(streamed == full.substr(before.size()), name, ": after prime, streamed '", streamed,
                    "' != '", full.substr(before.size()), "'");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  tokenizers();  // load outside the timed runs
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const Loaded& t = tokenizers()[data[0] & 3];
  const bool add_special = data[0] & 4;
  const size_t cut = data[0] >> 4;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  const auto ids = genarm::fuzz::check_encode(t.tokenizer, text, add_special, t.name, /*must_accept=*/true);
  if (ids && (t.byte_level || spm_lossless(text))) {
    // Byte-level: every id, special or not, decodes to its bytes. Llama 2 style: skipping the
    // special tokens drops the BOS and the word-start space the decoder strips is the one the
    // normalizer prepended.
    const std::string back = t.tokenizer.decode(*ids, /*skip_special_tokens=*/!t.byte_level);
    GENARM_FUZZ_CHECK(back == text, t.name, ": decode(encode(text)) = '", back, "' for '", text, "'");
  }

  std::vector<int32_t> raw;
  for (size_t i = 1; i + 1 < size; i += 2) {
    raw.push_back(static_cast<int32_t>((data[i] | (data[i + 1] << 8)) % t.tokenizer.vocab_size()));
  }
  genarm::fuzz::check_decode(t.tokenizer, raw, t.name, /*must_accept=*/true);
  const size_t k = std::min(cut, raw.size());
  check_prime(t.tokenizer, std::span(raw).first(k), std::span(raw).subspan(k), t.name);
  return 0;
}
