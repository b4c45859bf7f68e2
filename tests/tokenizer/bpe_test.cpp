#include "genarm/tokenizer/bpe.hpp"

#include <algorithm>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace genarm::tokenizer {
namespace {

using Vocab = std::vector<std::pair<std::string, int32_t>>;
using Merges = std::vector<std::pair<std::string, std::string>>;
using Ids = std::vector<int32_t>;

Ids tokenize(const BpeModel& m, std::string_view word) {
  Ids ids;
  BpeScratch scratch;
  m.tokenize(word, ids, scratch);
  return ids;
}

BpeModel from_json(const std::string& json) {
  const nlohmann::json j = nlohmann::json::parse(json);
  return BpeModel::from_json(io::JsonView(j, "tokenizer.json", ErrorCategory::kTokenizer, "model"));
}

// HF's test_tokenize_with_and_without_dropout vocabulary.
TEST(Bpe, MergesByRankDownToOneToken) {
  const Vocab vocab{{"u", 0}, {"n", 1}, {"r", 2}, {"e", 3}, {"l", 4}, {"a", 5}, {"t", 6}, {"d", 7},
                    {"re", 8}, {"at", 9}, {"ed", 10}, {"un", 11}, {"ated", 12}, {"rel", 13},
                    {"related", 14}, {"unrelated", 15}};
  const Merges merges{{"r", "e"}, {"a", "t"}, {"e", "d"}, {"u", "n"}, {"at", "ed"}, {"re", "l"},
                      {"rel", "ated"}, {"un", "related"}};
  const BpeModel m(vocab, merges, {});
  EXPECT_EQ(tokenize(m, "unrelated"), (Ids{15}));
  EXPECT_EQ(tokenize(m, "related"), (Ids{14}));
  EXPECT_EQ(tokenize(m, "relate"), (Ids{13, 9, 3}));
  EXPECT_EQ(tokenize(m, ""), Ids{});
}

TEST(Bpe, LowerRankWinsAndTiesGoLeft) {
  const Vocab vocab{{"a", 0}, {"b", 1}, {"c", 2}, {"ab", 3}, {"bc", 4}, {"aa", 5}};
  EXPECT_EQ(tokenize(BpeModel(vocab, {{"b", "c"}, {"a", "b"}}, {}), "abc"), (Ids{0, 4}));
  EXPECT_EQ(tokenize(BpeModel(vocab, {{"a", "b"}, {"b", "c"}}, {}), "abc"), (Ids{3, 2}));
  const BpeModel aa(vocab, {{"a", "a"}}, {});
  EXPECT_EQ(tokenize(aa, "aaa"), (Ids{5, 0}));
  EXPECT_EQ(tokenize(aa, "aaaa"), (Ids{5, 5}));
  EXPECT_EQ(tokenize(aa, "aaaaa"), (Ids{5, 5, 0}));
}

// HF's test_unk_not_fused / test_unk_get_fused.
TEST(Bpe, UnknownCharactersBecomeUnkFusedOrNot) {
  const Vocab vocab{{"<unk>", 0}, {"a", 1}, {"b", 2}};
  BpeModel::Options options;
  options.unk_token = "<unk>";
  const BpeModel plain(vocab, {}, options);
  EXPECT_EQ(tokenize(plain, "c"), (Ids{0}));
  EXPECT_EQ(tokenize(plain, "cc"), (Ids{0, 0}));
  EXPECT_EQ(tokenize(plain, "accb"), (Ids{1, 0, 0, 2}));
  options.fuse_unk = true;
  const BpeModel fused(vocab, {}, options);
  EXPECT_EQ(tokenize(fused, "cc"), (Ids{0}));
  EXPECT_EQ(tokenize(fused, "accb"), (Ids{1, 0, 2}));
  // Without an unk token, HF drops unknown characters.
  EXPECT_EQ(tokenize(BpeModel(vocab, {}, {}), "acb"), (Ids{1, 2}));
  // A configured unk token missing from the vocabulary fails when it is needed.
  options.unk_token = "<missing>";
  GENARM_EXPECT_ERROR(tokenize(BpeModel(vocab, {}, options), "c"), ErrorCategory::kTokenizer,
                      "unk_token '<missing>'");
}

TEST(Bpe, ByteFallbackSpellsUnknownCharactersAsBytes) {
  Vocab vocab{{"<unk>", 0}, {"a", 1}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    if (b != 0xA9) vocab.emplace_back(name, 10 + b);  // leave one byte out
  }
  BpeModel::Options options;
  options.unk_token = "<unk>";
  options.byte_fallback = true;
  const BpeModel m(vocab, {}, options);
  EXPECT_EQ(tokenize(m, "a\n"), (Ids{1, 10 + 0x0A}));
  EXPECT_EQ(tokenize(m, "\u65E5"), (Ids{10 + 0xE6, 10 + 0x97, 10 + 0xA5}));
  // "é" needs byte A9, which is missing: the whole character becomes unk.
  EXPECT_EQ(tokenize(m, "\u00E9a"), (Ids{0, 1}));
}

// HF's test_bpe_with_continuing_subword_prefix.
TEST(Bpe, ContinuingSubwordPrefix) {
  const Vocab vocab{{"a", 0}, {"##b", 1}, {"##c", 2}, {"ab", 3}, {"abc", 4}};
  BpeModel::Options options;
  options.unk_token = "[UNK]";
  options.continuing_subword_prefix = "##";
  const BpeModel m(vocab, {{"a", "##b"}, {"ab", "##c"}}, options);
  EXPECT_EQ(tokenize(m, "ab"), (Ids{3}));
  EXPECT_EQ(tokenize(m, "abc"), (Ids{4}));
}

TEST(Bpe, EndOfWordSuffix) {
  const Vocab vocab{{"l", 0}, {"o", 1}, {"w</w>", 2}, {"lo", 3}, {"low</w>", 4}, {"w", 5}};
  BpeModel::Options options;
  options.end_of_word_suffix = "</w>";
  const BpeModel m(vocab, {{"l", "o"}, {"lo", "w</w>"}}, options);
  EXPECT_EQ(tokenize(m, "low"), (Ids{4}));
  EXPECT_EQ(tokenize(m, "wl"), (Ids{5}));  // "l</w>" is unknown and there is no unk: dropped
}

TEST(Bpe, IgnoreMergesReturnsWholeWordsInTheVocabulary) {
  const Vocab vocab{{"a", 0}, {"b", 1}, {"c", 2}, {"bc", 3}, {"abc", 4}};
  const Merges merges{{"b", "c"}};
  EXPECT_EQ(tokenize(BpeModel(vocab, merges, {}), "abc"), (Ids{0, 3}));
  BpeModel::Options options;
  options.ignore_merges = true;
  const BpeModel ignoring(vocab, merges, options);
  EXPECT_EQ(tokenize(ignoring, "abc"), (Ids{4}));
  EXPECT_EQ(tokenize(ignoring, "abcbc"), (Ids{0, 3, 3}));
}

// Words are cut before characters that only ever start a token ("▁" here): the result must be
// what merging the whole word gives.
TEST(Bpe, WordsAreCutOnlyBeforeCharactersNoTokenContainsInside) {
  const Vocab vocab{{"<unk>", 0}, {"\u2581", 1}, {"a", 2}, {"b", 3}, {"\u2581a", 4}, {"ab", 5}, {"\u2581ab", 6}};
  BpeModel::Options options;
  options.unk_token = "<unk>";
  options.fuse_unk = true;
  const BpeModel m(vocab, {{"\u2581", "a"}, {"a", "b"}, {"\u2581a", "b"}}, options);
  EXPECT_EQ(m.boundary_chars(), (std::vector<std::string>{"\u2581"}));
  EXPECT_EQ(tokenize(m, "\u2581ab\u2581a\u2581xy\u2581b"), (Ids{6, 4, 1, 0, 1, 3}));
  // Unknown runs fuse within a chunk but not across the known "▁", in one piece or not.
  EXPECT_EQ(tokenize(m, "xy\u2581z"), (Ids{0, 1, 0}));
  // A prefix or suffix depends on the position in the word: no cutting then.
  options.end_of_word_suffix = "</w>";
  EXPECT_TRUE(BpeModel(vocab, {}, options).boundary_chars().empty());
}

// The textbook algorithm: repeatedly merge the leftmost occurrence of the lowest-ranked pair.
Ids naive_bpe(const std::vector<std::string>& tokens_by_id, const Merges& merges,
              const std::vector<std::string>& chars, const std::map<std::string, int32_t>& ids) {
  std::vector<std::string> syms = chars;
  while (true) {
    size_t best_rank = merges.size();
    size_t best_pos = 0;
    for (size_t i = 0; i + 1 < syms.size(); ++i) {
      for (size_t r = 0; r < best_rank; ++r) {
        if (merges[r].first == syms[i] && merges[r].second == syms[i + 1]) {
          best_rank = r;
          best_pos = i;
          break;
        }
      }
    }
    if (best_rank == merges.size()) break;
    syms[best_pos] += syms[best_pos + 1];
    syms.erase(syms.begin() + static_cast<ptrdiff_t>(best_pos) + 1);
  }
  Ids out;
  for (const auto& s : syms) out.push_back(ids.at(s));
  (void)tokens_by_id;
  return out;
}

TEST(Bpe, PriorityQueueMatchesTheNaiveAlgorithm) {
  std::mt19937 rng(1234);
  for (int model = 0; model < 20; ++model) {
    // A random vocabulary over a 4-letter alphabet grown by random merges.
    std::vector<std::string> tokens{"a", "b", "c", "d"};
    std::map<std::string, int32_t> ids{{"a", 0}, {"b", 1}, {"c", 2}, {"d", 3}};
    Merges merges;
    while (merges.size() < 40) {
      const std::string& l = tokens[rng() % tokens.size()];
      const std::string& r = tokens[rng() % tokens.size()];
      if (l.size() + r.size() > 6) continue;
      const std::string m = l + r;
      if (std::find(merges.begin(), merges.end(), std::make_pair(l, r)) != merges.end()) continue;
      merges.emplace_back(l, r);
      if (!ids.count(m)) {
        ids.emplace(m, static_cast<int32_t>(tokens.size()));
        tokens.push_back(m);
      }
    }
    Vocab vocab(ids.begin(), ids.end());
    const BpeModel bpe(vocab, merges, {}, /*cache_capacity=*/0);
    for (int w = 0; w < 100; ++w) {
      std::string word;
      std::vector<std::string> chars;
      const size_t len = 1 + rng() % 30;
      for (size_t i = 0; i < len; ++i) {
        chars.emplace_back(1, static_cast<char>('a' + rng() % 4));
        word += chars.back();
      }
      ASSERT_EQ(tokenize(bpe, word), naive_bpe(tokens, merges, chars, ids)) << word;
    }
  }
}

TEST(Bpe, AHundredKilobyteWordIsFastAndLossless) {
  // Byte-like alphabet with a chain of merges building long runs.
  Vocab vocab;
  std::vector<std::string> by_id;
  for (char c = 'a'; c <= 'z'; ++c) {
    by_id.emplace_back(1, c);
  }
  Merges merges;
  for (char c = 'a'; c <= 'z'; ++c) {
    std::string t(1, c);
    for (int k = 0; k < 3; ++k) {
      merges.emplace_back(t, t);
      t += t;
      by_id.push_back(t);
    }
  }
  for (size_t i = 0; i < by_id.size(); ++i) vocab.emplace_back(by_id[i], static_cast<int32_t>(i));
  const BpeModel m(vocab, merges, {});
  std::mt19937 rng(5);
  std::string word;
  while (word.size() < 100'000) word.append(1 + rng() % 12, static_cast<char>('a' + rng() % 26));
  const Ids ids = tokenize(m, word);
  std::string back;
  for (int32_t id : ids) back += by_id[static_cast<size_t>(id)];
  EXPECT_EQ(back, word);
  EXPECT_LT(ids.size(), word.size());
}

TEST(Bpe, CachedResultsAreIdenticalAcrossThreads) {
  const Vocab vocab{{"a", 0}, {"b", 1}, {"ab", 2}, {"abab", 3}};
  const BpeModel m(vocab, {{"a", "b"}, {"ab", "ab"}}, {});
  // "ababababa": four (a,b) merges, then (ab,ab) twice from the left.
  const Ids expected_long{3, 3, 0};
  const Ids expected_short{3};
  std::vector<std::thread> threads;
  std::vector<int> good(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      BpeScratch scratch;
      for (int i = 0; i < 500; ++i) {
        Ids ids;
        const bool is_long = (i + t) % 2 == 0;
        m.tokenize(is_long ? "ababababa" : "abab", ids, scratch);
        good[static_cast<size_t>(t)] += ids == (is_long ? expected_long : expected_short);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(good, (std::vector<int>{500, 500, 500, 500}));
}

TEST(Bpe, JsonMergesInBothFormsAreEquivalent) {
  const BpeModel strings = from_json(
      R"({"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"],"dropout":null})");
  const BpeModel pairs = from_json(R"({"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":[["a","b"]]})");
  EXPECT_EQ(tokenize(strings, "abab"), (Ids{2, 2}));
  EXPECT_EQ(tokenize(pairs, "abab"), (Ids{2, 2}));
  detail::Hasher h1, h2;
  strings.fingerprint(h1);
  pairs.fingerprint(h2);
  EXPECT_EQ(h1.digest(), h2.digest());
  // Dropout 0 is no dropout in HF.
  EXPECT_EQ(tokenize(from_json(R"({"vocab":{"a":0},"merges":[],"dropout":0.0})"), "a"), (Ids{0}));
}

TEST(Bpe, JsonErrorsNameTheKey) {
  GENARM_EXPECT_ERROR(from_json(R"({"vocab":{"a":0,"b":1},"merges":["a b", 5]})"),
                      ErrorCategory::kTokenizer,
                      "tokenizer.json: model.merges[1]: expected a string or a pair of strings, got an integer 5");
  GENARM_EXPECT_ERROR(from_json(R"({"vocab":{"a":0,"b":1},"merges":["a b c"]})"),
                      ErrorCategory::kTokenizer, "model.merges[0]", "exactly one space");
  GENARM_EXPECT_ERROR(from_json(R"({"vocab":{"a":0,"b":1},"merges":[["a","b"]]})"),
                      ErrorCategory::kTokenizer, "tokenizer.json: model: merges[0]: merged token 'ab' is not in the vocabulary");
  GENARM_EXPECT_ERROR(from_json(R"({"vocab":{"a":0,"ab":1},"merges":[["a","x"]]})"),
                      ErrorCategory::kTokenizer, "merges[0]: token 'x' is not in the vocabulary");
  GENARM_EXPECT_ERROR(from_json(R"({"vocab":{"a":"zero"},"merges":[]})"), ErrorCategory::kTokenizer,
                      "model.vocab.a: expected an integer, got a string \"zero\"");
  GENARM_EXPECT_ERROR(from_json(R"({"vocab":{"a":-1},"merges":[]})"), ErrorCategory::kTokenizer,
                      "model.vocab.a: expected an integer in [0, 16777215], got an integer -1");
  GENARM_EXPECT_ERROR(from_json(R"({"vocab":{"a":0,"b":0},"merges":[]})"), ErrorCategory::kTokenizer,
                      "share id 0");
  GENARM_EXPECT_ERROR(from_json(R"({"merges":[]})"), ErrorCategory::kTokenizer, "model.vocab: missing required key");
  GENARM_EXPECT_ERROR(from_json(R"({"vocab":{"a":0}})"), ErrorCategory::kTokenizer, "model.merges: missing required key");
  GENARM_EXPECT_ERROR(from_json(R"({"vocab":{"a":0},"merges":[],"dropout":0.1})"), ErrorCategory::kUnsupported,
                      "model.dropout", "dropout 0.1");
  GENARM_EXPECT_ERROR(from_json(R"({"vocab":{"a":0},"merges":[],"fuse_unk":1})"), ErrorCategory::kTokenizer,
                      "model.fuse_unk: expected a boolean");
}

}  // namespace
}  // namespace genarm::tokenizer
