// Hashing helpers of the tokenizer: a streaming fingerprint hasher and two flat open-addressing
// maps (token string -> id, merge pair -> rank/result) that are faster and smaller than
// std::unordered_map for the 50k-200k entries of a vocabulary.
// Thread-safety: the maps are immutable after construction and may be read concurrently.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace genarm::tokenizer::detail {

inline uint64_t mix64(uint64_t x) {
  // The splitmix64 finaliser: a cheap full-avalanche mix.
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

inline uint64_t hash_bytes(std::string_view s) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (s.size() * 0xff51afd7ed558ccdull);
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = (h ^ mix64(w)) * 0x9E3779B97F4A7C15ull;
  }
  uint64_t tail = 0;
  for (size_t k = 0; i + k < s.size(); ++k) tail |= uint64_t{static_cast<unsigned char>(s[i + k])} << (8 * k);
  h = (h ^ mix64(tail)) * 0x9E3779B97F4A7C15ull;
  return mix64(h);
}

// Streaming 64-bit fingerprint (FNV-1a with a final mix). Every field is length-prefixed so
// that ("ab","c") and ("a","bc") differ.
class Hasher {
 public:
  void raw(const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) {
      h_ ^= p[i];
      h_ *= 0x100000001b3ull;
    }
  }
  Hasher& u64(uint64_t v) {
    raw(&v, sizeof v);
    return *this;
  }
  Hasher& i64(int64_t v) { return u64(static_cast<uint64_t>(v)); }
  Hasher& boolean(bool v) { return u64(v ? 1 : 0); }
  Hasher& str(std::string_view s) {
    u64(s.size());
    raw(s.data(), s.size());
    return *this;
  }
  uint64_t digest() const { return mix64(h_); }

 private:
  uint64_t h_ = 0xcbf29ce484222325ull;
};

// Token string -> id, keys stored in one pooled buffer.
class StringIdMap {
 public:
  StringIdMap() = default;
  // `reserve_entries` sizes the table; insert beyond it still works (the table grows).
  explicit StringIdMap(size_t reserve_entries) { rehash(capacity_for(reserve_entries)); }

  // Inserts key -> id; returns false (and leaves the map unchanged) if the key already exists.
  bool insert(std::string_view key, int32_t id) {
    if ((count_ + 1) * 2 > slots_.size()) rehash(capacity_for(count_ + 1));
    const uint64_t h = hash_bytes(key);
    size_t i = h & (slots_.size() - 1);
    while (slots_[i].id >= 0) {
      if (slots_[i].hash == static_cast<uint32_t>(h) && view(slots_[i]) == key) return false;
      i = (i + 1) & (slots_.size() - 1);
    }
    Slot& s = slots_[i];
    s.offset = static_cast<uint32_t>(pool_.size());
    s.length = static_cast<uint32_t>(key.size());
    s.hash = static_cast<uint32_t>(h);
    s.id = id;
    pool_.append(key);
    ++count_;
    return true;
  }

  std::optional<int32_t> find(std::string_view key) const {
    if (slots_.empty()) return std::nullopt;
    const uint64_t h = hash_bytes(key);
    size_t i = h & (slots_.size() - 1);
    while (slots_[i].id >= 0) {
      if (slots_[i].hash == static_cast<uint32_t>(h) && view(slots_[i]) == key) return slots_[i].id;
      i = (i + 1) & (slots_.size() - 1);
    }
    return std::nullopt;
  }

  size_t size() const { return count_; }

 private:
  struct Slot {
    uint32_t offset = 0;
    uint32_t length = 0;
    uint32_t hash = 0;
    int32_t id = -1;
  };
  static size_t capacity_for(size_t n) {
    size_t c = 16;
    while (c < n * 2) c <<= 1;
    return c;
  }
  std::string_view view(const Slot& s) const { return std::string_view(pool_).substr(s.offset, s.length); }
  void rehash(size_t capacity) {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(capacity, Slot{});
    for (const Slot& s : old) {
      if (s.id < 0) continue;
      size_t i = hash_bytes(view(s)) & (capacity - 1);
      while (slots_[i].id >= 0) i = (i + 1) & (capacity - 1);
      slots_[i] = s;
    }
  }

  std::vector<Slot> slots_;
  std::string pool_;
  size_t count_ = 0;
};

// (left id, right id) -> (merge rank, merged id).
class PairMap {
 public:
  struct Value {
    uint32_t rank;
    int32_t merged;
  };

  void reserve(size_t n) {
    size_t c = 16;
    while (c < n * 2) c <<= 1;
    if (c > keys_.size()) rehash(c);
  }

  // Inserts or overwrites (a later merge of the same pair wins, as in HF's HashMap collect).
  void insert_or_assign(int32_t a, int32_t b, Value v) {
    if ((count_ + 1) * 2 > keys_.size()) reserve(count_ + 1);
    const uint64_t key = pack(a, b);
    size_t i = mix64(key) & (keys_.size() - 1);
    while (keys_[i] != kEmpty) {
      if (keys_[i] == key) {
        values_[i] = v;
        return;
      }
      i = (i + 1) & (keys_.size() - 1);
    }
    keys_[i] = key;
    values_[i] = v;
    ++count_;
  }

  const Value* find(int32_t a, int32_t b) const {
    if (keys_.empty()) return nullptr;
    const uint64_t key = pack(a, b);
    size_t i = mix64(key) & (keys_.size() - 1);
    while (keys_[i] != kEmpty) {
      if (keys_[i] == key) return &values_[i];
      i = (i + 1) & (keys_.size() - 1);
    }
    return nullptr;
  }

  size_t size() const { return count_; }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  static uint64_t pack(int32_t a, int32_t b) {
    return (uint64_t{static_cast<uint32_t>(a)} << 32) | static_cast<uint32_t>(b);
  }
  void rehash(size_t capacity) {
    std::vector<uint64_t> old_keys = std::move(keys_);
    std::vector<Value> old_values = std::move(values_);
    keys_.assign(capacity, kEmpty);
    values_.assign(capacity, Value{});
    for (size_t j = 0; j < old_keys.size(); ++j) {
      if (old_keys[j] == kEmpty) continue;
      size_t i = mix64(old_keys[j]) & (capacity - 1);
      while (keys_[i] != kEmpty) i = (i + 1) & (capacity - 1);
      keys_[i] = old_keys[j];
      values_[i] = old_values[j];
    }
  }

  std::vector<uint64_t> keys_;
  std::vector<Value> values_;
  size_t count_ = 0;
};

}  // namespace genarm::tokenizer::detail
