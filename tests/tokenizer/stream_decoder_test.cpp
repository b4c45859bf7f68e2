#include "genarm/tokenizer/stream_decoder.hpp"

#include <atomic>
#include <cstdlib>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "test_support.hpp"

// Counts heap allocations so that a test can check that a warm StreamDecoder does not allocate.
// (This executable holds only the tokenizer tests; the counter is harmless to the others.)
// AddressSanitizer owns operator new itself, so the count is only taken without it.
#if defined(__SANITIZE_ADDRESS__)
#define GENARM_COUNT_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GENARM_COUNT_ALLOCATIONS 0
#endif
#endif
#ifndef GENARM_COUNT_ALLOCATIONS
#define GENARM_COUNT_ALLOCATIONS 1
#endif

namespace {
std::atomic<long> g_allocations{0};
}  // namespace
#if GENARM_COUNT_ALLOCATIONS
namespace {
// Out of line, so that the compiler does not pair an inlined free() with operator new.
[[gnu::noinline]] void* counted_malloc(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n == 0 ? 1 : n);
}
[[gnu::noinline]] void counted_free(void* p) { std::free(p); }
}  // namespace
void* operator new(std::size_t n) {
  if (void* p = counted_malloc(n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t) noexcept { counted_free(p); }
#endif

namespace genarm {

namespace test {
// Defined in tokenizer_test.cpp.
nlohmann::json llama3_style_json(bool ignore_merges);
nlohmann::json metaspace_json(const std::string& prepend_scheme);
}  // namespace test

namespace {

using Ids = std::vector<int32_t>;
using namespace genarm::testing;

// Streams `ids` and checks that every chunk is valid UTF-8; returns the concatenation.
std::string stream(const Tokenizer& t, const Ids& ids, bool skip, std::vector<std::string>* chunks = nullptr) {
  StreamDecoder d(t, skip);
  std::string out;
  for (const int32_t id : ids) {
    const std::string piece = d.push(id);
    EXPECT_TRUE(utf8::is_valid(piece));
    if (chunks) chunks->push_back(piece);
    out += piece;
  }
  const std::string rest = d.flush();
  EXPECT_TRUE(utf8::is_valid(rest));
  if (chunks) chunks->push_back(rest);
  return out + rest;
}

std::vector<Tokenizer> all_tokenizers() {
  std::vector<Tokenizer> out;
  for (const char* name : {"gpt2", "toy-bytelevel", "toy-spm"}) {
    out.push_back(Tokenizer::from_file(hf_dir() / "tokenizers" / name));
  }
  out.push_back(Tokenizer::from_file(source_dir() / "models" / "toy-base"));
  out.push_back(Tokenizer::from_json(test::llama3_style_json(true)));
  out.push_back(Tokenizer::from_json(test::metaspace_json("first")));
  return out;
}

TEST(StreamDecoder, FixtureCasesEqualOneShotDecode) {
  for (const char* name : {"gpt2", "toy-bytelevel", "toy-spm"}) {
    const auto dir = hf_dir() / "tokenizers" / name;
    const Tokenizer t = Tokenizer::from_file(dir);
    for (const auto& c : load_json(dir / "cases.json")) {
      const Ids ids = json_to_ids<int32_t>(c.at("ids"));
      EXPECT_EQ(stream(t, ids, true), c.at("decoded").get<std::string>()) << name << ": " << c.at("text");
      EXPECT_EQ(stream(t, ids, false), t.decode(ids, false)) << name << ": " << c.at("text");
    }
  }
}

TEST(StreamDecoder, RandomIdSequencesEqualOneShotDecode) {
  std::mt19937 rng(2024);
  for (const Tokenizer& t : all_tokenizers()) {
    // Ids that exist (the hand-made Llama 3 vocabulary has a hole).
    Ids valid;
    for (int32_t id = 0; id < static_cast<int32_t>(t.vocab_size()); ++id) {
      try {
        t.id_to_token(id);
        valid.push_back(id);
      } catch (const Error&) {
      }
    }
    // Byte-level and byte-fallback tokens are over-represented so that sequences often split
    // or corrupt multibyte characters.
    Ids bytes;
    for (const int32_t id : valid) {
      const std::string_view tok = t.id_to_token(id);
      if ((tok.size() == 6 && tok.substr(0, 3) == "<0x") || utf8::decode(tok, 0).length == tok.size()) bytes.push_back(id);
    }
    for (int trial = 0; trial < 300; ++trial) {
      Ids ids(1 + rng() % 40);
      for (int32_t& id : ids) {
        id = (rng() % 2 && !bytes.empty()) ? bytes[rng() % bytes.size()] : valid[rng() % valid.size()];
      }
      for (const bool skip : {true, false}) {
        ASSERT_EQ(stream(t, ids, skip), t.decode(ids, skip)) << "trial " << trial << " skip " << skip;
      }
    }
  }
}

TEST(StreamDecoder, MultibyteCharactersSplitAcrossTokensAreWithheldUntilComplete) {
  const Tokenizer gpt2 = Tokenizer::from_file(hf_dir() / "tokenizers" / "gpt2");
  // "日本語のテキスト": the first tokens hold a partial character ("æĹ" = E6 97).
  const Ids ids = gpt2.encode("\u65E5\u672C\u8A9E\u306E\u30C6\u30AD\u30B9\u30C8");
  std::vector<std::string> chunks;
  EXPECT_EQ(stream(gpt2, ids, true, &chunks), "\u65E5\u672C\u8A9E\u306E\u30C6\u30AD\u30B9\u30C8");
  ASSERT_GE(chunks.size(), 2u);
  EXPECT_EQ(chunks[0], "");          // E6 97: incomplete
  EXPECT_EQ(chunks[1], "\u65E5");    // + A5
  for (const auto& c : chunks) EXPECT_EQ(c.find(utf8::kReplacementUtf8), std::string::npos);

  // Byte fallback: "▁" <0xE6> <0x97> <0xA5> <0xE6> <0x9C> <0xAC> "▁" "x". The run of byte
  // tokens is released only when the non-byte token "▁" ends it.
  const Tokenizer spm = Tokenizer::from_file(hf_dir() / "tokenizers" / "toy-spm");
  const Ids run = spm.encode("\u65E5\u672C x", false);
  ASSERT_EQ(run.size(), 9u);
  chunks.clear();
  EXPECT_EQ(stream(spm, run, true, &chunks), "\u65E5\u672C x");
  EXPECT_EQ(chunks, (std::vector<std::string>{"", "", "", "", "", "", "", "\u65E5\u672C ", "x", ""}));
}

TEST(StreamDecoder, GenuinelyInvalidBytesBecomeReplacementCharacters) {
  const Tokenizer gpt2 = Tokenizer::from_file(hf_dir() / "tokenizers" / "gpt2");
  const int32_t e6 = *gpt2.token_to_id("\u00E6");  // the byte 0xE6 alone
  const int32_t a = *gpt2.token_to_id("A");
  StreamDecoder d(gpt2);
  EXPECT_EQ(d.push(e6), "");
  EXPECT_EQ(d.push(a), std::string(utf8::kReplacementUtf8) + "A");
  EXPECT_EQ(d.push(e6), "");
  EXPECT_EQ(d.flush(), std::string(utf8::kReplacementUtf8));
  // flush() reset the decoder: it starts a new sequence.
  EXPECT_EQ(d.push(a), "A");
  EXPECT_EQ(d.flush(), "");

  const Tokenizer spm = Tokenizer::from_file(hf_dir() / "tokenizers" / "toy-spm");
  // An invalid byte run: HF gives one U+FFFD per byte.
  const Ids ids{*spm.token_to_id("<0xE6>"), *spm.token_to_id("<0x97>"), *spm.token_to_id("\u2581a")};
  EXPECT_EQ(stream(spm, ids, true), spm.decode(ids, true));
  EXPECT_EQ(spm.decode(ids, true), std::string(utf8::kReplacementUtf8) + std::string(utf8::kReplacementUtf8) + " a");
}

TEST(StreamDecoder, PrimedWithAPromptEmitsOnlyTheContinuation) {
  const Tokenizer spm = Tokenizer::from_file(hf_dir() / "tokenizers" / "toy-spm");
  const Ids prompt = spm.encode("Hello");
  const Ids full = spm.encode("Hello world");
  ASSERT_TRUE(std::equal(prompt.begin(), prompt.end(), full.begin()));
  StreamDecoder d(spm);
  d.prime(prompt);
  std::string out;
  for (size_t i = prompt.size(); i < full.size(); ++i) out += d.push(full[i]);
  out += d.flush();
  EXPECT_EQ(out, " world");  // the word-start space that a one-shot decode would strip
  EXPECT_EQ(spm.decode(prompt, true) + out, spm.decode(full, true));
}

// A prompt that ends in more skipped special tokens than the priming window holds (found by
// tokenizer_encode_fuzz): the window must still reach text, or " world" loses its space.
TEST(StreamDecoder, PrimedWithAPromptEndingInManySpecialTokens) {
  const Tokenizer spm = Tokenizer::from_file(hf_dir() / "tokenizers" / "toy-spm");
  Ids prompt = spm.encode("Hello");
  const Ids hello_world = spm.encode("Hello world");
  const Ids world(hello_world.begin() + static_cast<ptrdiff_t>(prompt.size()), hello_world.end());
  prompt.insert(prompt.end(), 12, *spm.token_to_id("<unk>"));
  Ids full = prompt;
  full.insert(full.end(), world.begin(), world.end());
  StreamDecoder d(spm);
  d.prime(prompt);
  std::string out;
  for (const int32_t id : world) out += d.push(id);
  out += d.flush();
  EXPECT_EQ(out, " world");
  EXPECT_EQ(spm.decode(prompt, true) + out, spm.decode(full, true));
}

// After prime(), a continuation can extend a byte-fallback run that ends the prompt and make it
// invalid: the prompt's "é" then decodes as U+FFFDs. Streaming must go on with valid text.
TEST(StreamDecoder, PrimedContinuationsStayValidWhateverTheIds) {
  const Tokenizer spm = Tokenizer::from_file(hf_dir() / "tokenizers" / "toy-spm");
  const Ids context = spm.encode("caf\u00E9", false);
  ASSERT_EQ(spm.id_to_token(context.back()), "<0xA9>");
  const Ids cont{*spm.token_to_id("<0x80>"), *spm.token_to_id("\u2581a")};
  Ids all = context;
  all.insert(all.end(), cont.begin(), cont.end());
  StreamDecoder d(spm);
  d.prime(context);
  std::string out;
  for (const int32_t id : cont) out += d.push(id);
  out += d.flush();
  const std::string fffd(utf8::kReplacementUtf8);
  EXPECT_EQ(spm.decode(all, true), "caf" + fffd + fffd + fffd + " a");
  EXPECT_EQ(out, fffd + fffd + fffd + " a");

  // The same property on random contexts and continuations: the output is valid, is what ends
  // the one-shot decode of everything, and what precedes it is text of the context.
  std::mt19937 rng(77);
  for (const Tokenizer& t : all_tokenizers()) {
    Ids ids;
    for (int32_t id = 0; id < static_cast<int32_t>(t.vocab_size()); ++id) {
      try {
        t.id_to_token(id);
        ids.push_back(id);
      } catch (const Error&) {
      }
    }
    for (int trial = 0; trial < 200; ++trial) {
      Ids ctx(rng() % 12), more(1 + rng() % 12);
      for (int32_t& id : ctx) id = ids[rng() % ids.size()];
      for (int32_t& id : more) id = ids[rng() % ids.size()];
      for (const bool skip : {true, false}) {
        StreamDecoder s(t, skip);
        s.prime(ctx);
        std::string got;
        for (const int32_t id : more) got += s.push(id);
        got += s.flush();
        ASSERT_TRUE(utf8::is_valid(got));
        Ids both = ctx;
        both.insert(both.end(), more.begin(), more.end());
        const std::string whole = t.decode(both, skip);
        ASSERT_GE(whole.size(), got.size()) << "trial " << trial;
        ASSERT_EQ(whole.substr(whole.size() - got.size()), got) << "trial " << trial;
        const std::string before = whole.substr(0, whole.size() - got.size());
        ASSERT_EQ(t.decode(ctx, skip).substr(0, before.size()), before) << "trial " << trial;
      }
    }
  }
}

TEST(StreamDecoder, SpecialTokensAreSkippedOrKept) {
  const Tokenizer t = Tokenizer::from_json(test::llama3_style_json(true));
  const Ids ids = t.encode("Hello world's<|end_of_text|>");
  EXPECT_EQ(stream(t, ids, true), "Hello world's");
  EXPECT_EQ(stream(t, ids, false), "<|begin_of_text|>Hello world's<|end_of_text|>");
  StreamDecoder d(t);
  GENARM_EXPECT_ERROR(d.push(285), ErrorCategory::kInvalidArgument, "285");
  GENARM_EXPECT_ERROR(d.push(100000), ErrorCategory::kInvalidArgument, "100000");
}

TEST(StreamDecoder, ThousandsOfTokensStayLinearAndWarmPushesDoNotAllocate) {
  const Tokenizer t = Tokenizer::from_file(hf_dir() / "tokenizers" / "gpt2");
  std::string text;
  for (int i = 0; i < 300; ++i) text += "The quick brown fox jumps over the lazy dog, again and again. ";
  const Ids ids = t.encode(text);
  ASSERT_GT(ids.size(), 3000u);
  EXPECT_EQ(stream(t, ids, true), t.decode(ids, true));

  StreamDecoder d(t);
  for (const int32_t id : ids) d.push(id);  // warm up
  d.flush();
  const long before = g_allocations.load();
  size_t bytes = 0;
  for (const int32_t id : ids) bytes += d.push(id).size();
  const long allocations = g_allocations.load() - before;
  bytes += d.flush().size();
  EXPECT_EQ(bytes, text.size());
  if (GENARM_COUNT_ALLOCATIONS) {
    EXPECT_EQ(allocations, 0) << "over " << ids.size() << " pushes";
  }
}

}  // namespace
}  // namespace genarm
