// The BPE model (Sennrich et al. 2016, https://arxiv.org/abs/1508.07909) as HF `tokenizers`
// runs it: a word is split into characters (with continuing_subword_prefix /
// end_of_word_suffix where set), unknown characters become byte-fallback tokens "<0xNN>" or the
// (optionally fused) unk token, then the lowest-ranked adjacent pair is merged repeatedly.
// Merging uses a priority queue over a linked list of symbols, O(n log n) in the word length,
// so a 100 kB word without spaces is fine. `ignore_merges` returns a word that is itself in the
// vocabulary as one token. Dropout is refused (encoding must be deterministic).
// Words are cut before "boundary" characters that no token contains except at its start (the
// "▁" of SentencePiece vocabularies): provably no merge crosses such a cut, and without a
// pre-tokenizer (Llama 2 style) it turns one prompt-sized word into cacheable words.
// A bounded, sharded cache maps recent words (< 256 bytes, as in HF) to their ids.
// Ownership: owns vocabulary, merges and cache. Thread-safety: thread-safe (the cache is
// internally locked); callers pass their own BpeScratch.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "genarm/core/error.hpp"
#include "genarm/core/utf8.hpp"
#include "genarm/io/json.hpp"
#include "genarm/tokenizer/detail/hash.hpp"

namespace genarm::tokenizer {

// Working memory of one tokenize() caller.
struct BpeScratch {
  struct Merge {
    uint32_t rank;
    uint32_t pos;
    int32_t merged;
  };
  std::vector<int32_t> symbol;
  std::vector<int32_t> prev;
  std::vector<int32_t> next;
  std::vector<uint32_t> length;  // 0 marks a symbol merged into its left neighbour
  std::vector<Merge> heap;
  std::vector<int32_t> word_ids;
  std::string piece;
};

namespace detail {

// Word -> ids cache: 16 independently locked shards; a full shard stops accepting entries
// (HF's cache does the same), which bounds memory without eviction bookkeeping.
class WordCache {
 public:
  static constexpr size_t kShards = 16;
  static constexpr size_t kMaxWordBytes = 256;

  explicit WordCache(size_t capacity) : per_shard_(capacity / kShards) {}

  bool enabled() const { return per_shard_ > 0; }

  // Appends the cached ids of `word` to `out` and returns true on a hit.
  bool lookup(std::string_view word, uint64_t hash, std::vector<int32_t>& out) const {
    const Shard& s = shards_[hash % kShards];
    std::shared_lock lock(s.mutex);
    const auto it = s.map.find(Key{word, hash});
    if (it == s.map.end()) return false;
    out.insert(out.end(), it->second.begin(), it->second.end());
    return true;
  }

  void insert(std::string_view word, uint64_t hash, const int32_t* ids, size_t n) {
    Shard& s = shards_[hash % kShards];
    std::unique_lock lock(s.mutex);
    if (s.map.size() >= per_shard_) return;
    s.storage.emplace_back(word);
    s.map.emplace(Key{s.storage.back(), hash}, std::vector<int32_t>(ids, ids + n));
  }

 private:
  struct Key {
    std::string_view word;
    uint64_t hash;
    bool operator==(const Key& o) const { return word == o.word; }
  };
  struct KeyHash {
    size_t operator()(const Key& k) const { return static_cast<size_t>(k.hash); }
  };
  struct Shard {
    mutable std::shared_mutex mutex;
    std::unordered_map<Key, std::vector<int32_t>, KeyHash> map;
    std::deque<std::string> storage;  // stable addresses for the string_view keys
  };
  size_t per_shard_;
  mutable std::array<Shard, kShards> shards_;
};

}  // namespace detail

class BpeModel {
 public:
  static constexpr size_t kDefaultCacheCapacity = 10'000;
  // Ids index dense tables; real vocabularies stay far below this bound (about 256k at most),
  // and refusing larger ids keeps a corrupt file from allocating gigabytes.
  static constexpr int64_t kMaxTokenId = (int64_t{1} << 24) - 1;

  struct Options {
    std::optional<std::string> unk_token;
    std::string continuing_subword_prefix;
    std::string end_of_word_suffix;
    bool fuse_unk = false;
    bool byte_fallback = false;
    bool ignore_merges = false;
  };

  // vocab: token -> id pairs; merges: (left, right) token pairs in rank order.
  BpeModel(std::vector<std::pair<std::string, int32_t>> vocab,
           std::vector<std::pair<std::string, std::string>> merges, Options options,
           size_t cache_capacity = kDefaultCacheCapacity)
      : options_(std::move(options)),
        cache_(std::make_unique<detail::WordCache>(cache_capacity)) {
    build(std::move(vocab), merges);
  }

  // Reads the "model" object of tokenizer.json (type BPE).
  static BpeModel from_json(const io::JsonView& j) {
    j.expect_object();
    if (const auto d = j.find("dropout")) {
      if (!d->is_number()) d->type_error("a number or null");
      // HF treats dropout 0 as no dropout; anything else makes encoding random.
      if (d->json().get<double>() != 0.0) {
        d->unsupported("BPE dropout ", d->json().dump(),
                       " is not supported (encoding must be deterministic); set it to null");
      }
    }
    Options options;
    if (const auto u = j.find("unk_token")) options.unk_token = u->as_string();
    options.continuing_subword_prefix = j.get_string("continuing_subword_prefix", "");
    options.end_of_word_suffix = j.get_string("end_of_word_suffix", "");
    options.fuse_unk = j.get_bool("fuse_unk", false);
    options.byte_fallback = j.get_bool("byte_fallback", false);
    options.ignore_merges = j.get_bool("ignore_merges", false);

    const io::JsonView vocab_json = j.at("vocab");
    std::vector<std::pair<std::string, int32_t>> vocab;
    vocab.reserve(vocab_json.json().size());
    vocab_json.for_each_member([&](const std::string& token, const io::JsonView& id) {
      if (!utf8::is_valid(token)) vocab_json.fail("a token is not valid UTF-8");
      vocab.emplace_back(token, static_cast<int32_t>(id.as_int(0, kMaxTokenId)));
    });

    const io::JsonView merges_json = j.at("merges");
    std::vector<std::pair<std::string, std::string>> merges;
    {
      const size_t n = merges_json.size();
      merges.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        const io::JsonView m = merges_json.at(i);
        if (m.is_string()) {
          // "a b": the legacy form splits on the single space separating the two tokens.
          const std::string s = m.as_string();
          const size_t space = s.find(' ');
          if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
            m.fail("expected \"left right\" with exactly one space, got \"", s, "\"");
          }
          merges.emplace_back(s.substr(0, space), s.substr(space + 1));
        } else if (m.is_array() && m.json().size() == 2 && m.json()[0].is_string() &&
                   m.json()[1].is_string()) {
          merges.emplace_back(m.at(size_t{0}).as_string(), m.at(size_t{1}).as_string());
        } else {
          m.type_error("a string or a pair of strings");
        }
      }
    }
    return j.with_context([&] {
      return BpeModel(std::move(vocab), std::move(merges), std::move(options));
    });
  }

  // Appends the ids of `word` (valid UTF-8) to `ids`.
  void tokenize(std::string_view word, std::vector<int32_t>& ids, BpeScratch& scratch) const {
    if (word.empty()) return;
    if (options_.ignore_merges) {
      if (const auto id = token_ids_.find(word)) {
        ids.push_back(*id);
        return;
      }
    }
    // Cut the word before every "boundary" character (see find_boundary_chars): no merge can
    // cross such a cut, so the chunks encode independently, and cache well. Without a
    // pre-tokenizer (Llama 2 style) a whole prompt is one word; its chunks are "▁word"s.
    if (has_boundaries_) {
      size_t chunk = 0;
      for (size_t i = 0; i < word.size();) {
        const auto b = static_cast<unsigned char>(word[i]);
        const uint32_t len = utf8::sequence_length(b);
        // boundary_leads_: 1 = this ASCII character is a boundary, 2 = a boundary may start here.
        if (i > chunk && boundary_leads_[b] != 0 &&
            (boundary_leads_[b] == 1 || is_boundary(word.substr(i, len)))) {
          tokenize_chunk(word.substr(chunk, i - chunk), ids, scratch);
          chunk = i;
        }
        i += len;
      }
      tokenize_chunk(word.substr(chunk), ids, scratch);
      return;
    }
    tokenize_chunk(word, ids, scratch);
  }

  std::optional<int32_t> token_to_id(std::string_view token) const { return token_ids_.find(token); }
  // Vocabulary indexed by id; ids with no token have an empty string and present()==false.
  const std::vector<std::string>& tokens() const { return tokens_; }
  bool present(int32_t id) const {
    return id >= 0 && static_cast<size_t>(id) < present_.size() && present_[static_cast<size_t>(id)];
  }
  size_t id_bound() const { return tokens_.size(); }  // max id + 1
  size_t merge_count() const { return merges_.size(); }
  // The merges as (left id, right id) pairs in rank order, as the file lists them.
  const std::vector<std::pair<int32_t, int32_t>>& merge_list() const { return merge_list_; }
  const Options& options() const { return options_; }

  // The characters before which encoding cuts words (empty when the optimisation is off).
  const std::vector<std::string>& boundary_chars() const { return boundary_chars_; }

  void fingerprint(detail::Hasher& h) const {
    h.str("bpe").u64(tokens_.size());
    for (size_t i = 0; i < tokens_.size(); ++i) h.boolean(present_[i]).str(tokens_[i]);
    h.u64(merge_list_.size());
    for (const auto& [a, b] : merge_list_) h.i64(a).i64(b);
    h.boolean(options_.unk_token.has_value()).str(options_.unk_token.value_or(""));
    h.str(options_.continuing_subword_prefix).str(options_.end_of_word_suffix);
    h.boolean(options_.fuse_unk).boolean(options_.byte_fallback).boolean(options_.ignore_merges);
  }

 private:
  void tokenize_chunk(std::string_view word, std::vector<int32_t>& ids, BpeScratch& scratch) const {
    const bool cacheable = cache_->enabled() && word.size() < detail::WordCache::kMaxWordBytes;
    uint64_t hash = 0;
    if (cacheable) {
      hash = detail::hash_bytes(word);
      if (cache_->lookup(word, hash, ids)) return;
    }
    const size_t before = ids.size();
    merge_word(word, ids, scratch);
    if (cacheable) cache_->insert(word, hash, ids.data() + before, ids.size() - before);
  }

  bool is_boundary(std::string_view ch) const {
    return std::binary_search(boundary_chars_.begin(), boundary_chars_.end(), ch);
  }

  // A character c is a boundary when c alone is a token and no token contains c anywhere but at
  // its start. Then no merge joins what precedes an occurrence of c with what follows (the
  // merged token would contain c inside), an unknown-character run never spans it (c itself is
  // known), so cutting a word before c changes nothing. The continuing-subword prefix and the
  // end-of-word suffix depend on word position, so they disable the cut.
  void find_boundary_chars() {
    boundary_chars_.clear();
    boundary_leads_.fill(0);
    has_boundaries_ = false;
    if (!options_.continuing_subword_prefix.empty() || !options_.end_of_word_suffix.empty()) return;
    std::vector<std::string> interior;
    std::vector<std::string> single;
    for (size_t id = 0; id < tokens_.size(); ++id) {
      if (!present_[id]) continue;
      const std::string& t = tokens_[id];
      const uint32_t first = t.empty() ? 0 : utf8::sequence_length(static_cast<unsigned char>(t[0]));
      if (!t.empty() && first == t.size()) single.push_back(t);
      for (size_t i = first; i < t.size();) {
        const uint32_t len = utf8::sequence_length(static_cast<unsigned char>(t[i]));
        interior.push_back(t.substr(i, len));
        i += len;
      }
    }
    std::sort(interior.begin(), interior.end());
    interior.erase(std::unique(interior.begin(), interior.end()), interior.end());
    for (const std::string& c : single) {
      if (!std::binary_search(interior.begin(), interior.end(), c)) boundary_chars_.push_back(c);
    }
    std::sort(boundary_chars_.begin(), boundary_chars_.end());
    for (const std::string& c : boundary_chars_) {
      boundary_leads_[static_cast<unsigned char>(c[0])] = c.size() == 1 ? 1 : 2;
    }
    has_boundaries_ = !boundary_chars_.empty();
  }

  void build(std::vector<std::pair<std::string, int32_t>> vocab,
             const std::vector<std::pair<std::string, std::string>>& merges) {
    int32_t max_id = -1;
    for (const auto& [token, id] : vocab) max_id = std::max(max_id, id);
    tokens_.assign(static_cast<size_t>(max_id + 1), std::string());
    present_.assign(static_cast<size_t>(max_id + 1), false);
    token_ids_ = detail::StringIdMap(vocab.size());
    for (auto& [token, id] : vocab) {
      const auto slot = static_cast<size_t>(id);
      if (present_[slot]) {
        fail(ErrorCategory::kTokenizer, "vocab: tokens '", tokens_[slot], "' and '", token,
             "' share id ", id);
      }
      if (!token_ids_.insert(token, id)) {
        fail(ErrorCategory::kTokenizer, "vocab: token '", token, "' appears twice");
      }
      present_[slot] = true;
      tokens_[slot] = std::move(token);
    }
    byte_ids_.fill(-1);
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      if (const auto id = token_ids_.find(name)) byte_ids_[static_cast<size_t>(b)] = *id;
    }
    const size_t prefix_len = options_.continuing_subword_prefix.size();
    merges_.reserve(merges.size());
    merge_list_.reserve(merges.size());
    for (size_t rank = 0; rank < merges.size(); ++rank) {
      const auto& [a, b] = merges[rank];
      const auto a_id = token_ids_.find(a);
      const auto b_id = token_ids_.find(b);
      if (!a_id || !b_id) {
        fail(ErrorCategory::kTokenizer, "merges[", rank, "]: token '", !a_id ? a : b,
             "' is not in the vocabulary");
      }
      // HF drops the continuing-subword prefix of the right token when naming the result.
      const std::string merged = a + b.substr(std::min(prefix_len, b.size()));
      const auto merged_id = token_ids_.find(merged);
      if (!merged_id) {
        fail(ErrorCategory::kTokenizer, "merges[", rank, "]: merged token '", merged,
             "' is not in the vocabulary");
      }
      merges_.insert_or_assign(*a_id, *b_id, {static_cast<uint32_t>(rank), *merged_id});
      merge_list_.emplace_back(*a_id, *b_id);
    }
    if (options_.unk_token) unk_id_ = token_ids_.find(*options_.unk_token);
    find_boundary_chars();
  }

  void add_symbol(BpeScratch& s, int32_t id, uint32_t length) const {
    const auto n = static_cast<int32_t>(s.symbol.size());
    s.symbol.push_back(id);
    s.length.push_back(length);
    s.prev.push_back(n - 1);
    s.next.push_back(n + 1);
  }

  int32_t unk_id_or_throw() const {
    if (!unk_id_) {
      fail(ErrorCategory::kTokenizer, "BPE unk_token '", *options_.unk_token,
           "' is not in the vocabulary");
    }
    return *unk_id_;
  }

  // The initial symbols of `word`, exactly as HF BPE::merge_word builds them.
  void initial_symbols(std::string_view word, BpeScratch& s) const {
    s.symbol.clear();
    s.length.clear();
    s.prev.clear();
    s.next.clear();
    // A pending (possibly fused) unk token: HF adds it when the next known character comes.
    bool unk_pending = false;
    int32_t unk_id = 0;
    uint32_t unk_length = 0;
    const std::string& prefix = options_.continuing_subword_prefix;
    const std::string& suffix = options_.end_of_word_suffix;
    for (size_t i = 0; i < word.size();) {
      const uint32_t len = utf8::sequence_length(static_cast<unsigned char>(word[i]));
      const bool is_first = i == 0;
      const bool is_last = i + len >= word.size();
      std::string_view piece = word.substr(i, len);
      if ((!is_first && !prefix.empty()) || (is_last && !suffix.empty())) {
        s.piece.clear();
        if (!is_first) s.piece += prefix;
        s.piece += piece;
        if (is_last) s.piece += suffix;
        piece = s.piece;
      }
      i += len;
      if (const auto id = token_ids_.find(piece)) {
        if (unk_pending) {
          add_symbol(s, unk_id, unk_length);
          unk_pending = false;
        }
        add_symbol(s, *id, len);
        continue;
      }
      if (options_.byte_fallback) {
        bool all = true;
        for (char c : piece) all = all && byte_ids_[static_cast<unsigned char>(c)] >= 0;
        if (all) {
          // As in HF, a pending unk is not flushed before the byte tokens.
          for (char c : piece) add_symbol(s, byte_ids_[static_cast<unsigned char>(c)], 1);
          continue;
        }
      }
      if (options_.unk_token) {
        if (unk_pending && options_.fuse_unk) {
          unk_length += len;
        } else {
          if (unk_pending) add_symbol(s, unk_id, unk_length);
          unk_id = unk_id_or_throw();
          unk_length = len;
          unk_pending = true;
        }
      }
      // Without an unk token HF drops the character.
    }
    if (unk_pending) add_symbol(s, unk_id, unk_length);
    if (!s.next.empty()) s.next.back() = -1;
  }

  void push_merge(BpeScratch& s, int32_t left) const {
    const int32_t right = s.next[static_cast<size_t>(left)];
    if (right < 0) return;
    const auto* m = merges_.find(s.symbol[static_cast<size_t>(left)], s.symbol[static_cast<size_t>(right)]);
    if (!m) return;
    s.heap.push_back({m->rank, static_cast<uint32_t>(left), m->merged});
    std::push_heap(s.heap.begin(), s.heap.end(), later);
  }

  // Min-heap order: lowest rank first, then leftmost position. A function object (not a
  // function pointer) so that the heap operations inline the comparison.
  struct Later {
    bool operator()(const BpeScratch::Merge& a, const BpeScratch::Merge& b) const {
      return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
    }
  };
  static constexpr Later later{};

  void merge_word(std::string_view word, std::vector<int32_t>& ids, BpeScratch& s) const {
    initial_symbols(word, s);
    s.heap.clear();
    for (size_t i = 0; i + 1 < s.symbol.size(); ++i) {
      const auto* m = merges_.find(s.symbol[i], s.symbol[i + 1]);
      if (m) s.heap.push_back({m->rank, static_cast<uint32_t>(i), m->merged});
    }
    std::make_heap(s.heap.begin(), s.heap.end(), later);
    while (!s.heap.empty()) {
      std::pop_heap(s.heap.begin(), s.heap.end(), later);
      const BpeScratch::Merge top = s.heap.back();
      s.heap.pop_back();
      const size_t pos = top.pos;
      if (s.length[pos] == 0) continue;  // merged away
      const int32_t right = s.next[pos];
      if (right < 0) continue;
      // Skip entries made stale by an earlier merge of either symbol.
      const auto* current = merges_.find(s.symbol[pos], s.symbol[static_cast<size_t>(right)]);
      if (!current || current->merged != top.merged) continue;
      const auto r = static_cast<size_t>(right);
      s.symbol[pos] = top.merged;
      s.length[pos] += s.length[r];
      s.length[r] = 0;
      s.next[pos] = s.next[r];
      if (s.next[pos] >= 0) s.prev[static_cast<size_t>(s.next[pos])] = static_cast<int32_t>(pos);
      if (s.prev[pos] >= 0) push_merge(s, s.prev[pos]);
      push_merge(s, static_cast<int32_t>(pos));
    }
    for (size_t i = 0; i < s.symbol.size(); ++i) {
      if (s.length[i] != 0) ids.push_back(s.symbol[i]);
    }
  }

  Options options_;
  std::vector<std::string> tokens_;
  std::vector<bool> present_;
  detail::StringIdMap token_ids_;
  detail::PairMap merges_;
  std::vector<std::pair<int32_t, int32_t>> merge_list_;  // rank order, for the fingerprint
  std::array<int32_t, 256> byte_ids_{};
  std::optional<int32_t> unk_id_;
  std::vector<std::string> boundary_chars_;  // sorted UTF-8 encodings
  std::array<uint8_t, 256> boundary_leads_{};
  bool has_boundaries_ = false;
  std::shared_ptr<detail::WordCache> cache_;
};

}  // namespace genarm::tokenizer
