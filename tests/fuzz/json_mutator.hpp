// A structure-aware libFuzzer mutator for targets whose input is a JSON document (config.json,
// tokenizer.json). Byte-level mutations of JSON mostly produce text the parser rejects, so the
// code behind the parser sees little of them. Here most mutations parse the input, change one to
// three values of the tree and serialise it again:
//   - a value becomes an edge-case number (0, -1, 2^31, 2^40 + 1, 2^63, 1e308, 0.5, ...), a word
//     of the target's dictionary (key names, type names, activations), null, a bool, [] or {};
//   - a value becomes a copy of another subtree of the same document (a normalizer where a
//     decoder was, a vocabulary where a merge list was);
//   - a member or element is deleted, duplicated, added under a dictionary key, or renamed;
//   - a number is nudged (+-1, x2, negated, made a float or a string), a string is cut, doubled or
//     byte-mutated, a bool flipped.
// The remaining quarter (and any input that does not parse) gets libFuzzer's own byte-level
// mutations, which also use the -dict file. Nodes are picked either uniformly or by a random walk
// from the root, so that shallow structure (components, their types) is not drowned by the
// thousands of vocabulary entries of a tokenizer.
// Thread-safety: const and stateless apart from the word list; libFuzzer calls it on one thread.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "genarm/io/json.hpp"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace genarm::fuzz {

class JsonMutator {
 public:
  explicit JsonMutator(std::span<const std::string_view> words) : words_(words.begin(), words.end()) {}

  size_t mutate(uint8_t* data, size_t size, size_t max_size, unsigned int seed) const {
    std::minstd_rand rng(seed);
    if (rng() % 4 == 0) return LLVMFuzzerMutate(data, size, max_size);
    // Bounded like every parse of untrusted JSON (a deep document cannot overflow the stack here).
    nlohmann::json doc;
    try {
      doc = io::parse_json(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz input");
    } catch (const Error&) {
      return LLVMFuzzerMutate(data, size, max_size);
    }
    const int rounds = 1 + static_cast<int>(rng() % 3);
    for (int r = 0; r < rounds; ++r) {
      std::vector<nlohmann::json*> nodes;
      collect(doc, nodes);
      nlohmann::json& target = rng() % 2 ? *nodes[rng() % nodes.size()] : walk(doc, rng);
      mutate_node(target, nodes, rng);
    }
    // Strings mutated byte-wise may no longer be UTF-8: dump them with U+FFFD, never throw.
    const std::string out = doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (out.size() > max_size) return LLVMFuzzerMutate(data, size, max_size);
    std::memcpy(data, out.data(), out.size());
    return out.size();
  }

 private:
  using Rng = std::minstd_rand;
  static constexpr size_t kMaxNodes = 200'000;

  static void collect(nlohmann::json& node, std::vector<nlohmann::json*>& out) {
    if (out.size() >= kMaxNodes) return;
    out.push_back(&node);
    if (node.is_structured()) {
      for (auto& child : node) collect(child, out);
    }
  }

  // Descends from the root, stopping at each level with probability 1/3.
  static nlohmann::json& walk(nlohmann::json& root, Rng& rng) {
    nlohmann::json* node = &root;
    while (node->is_structured() && !node->empty() && rng() % 3 != 0) {
      auto it = node->begin();
      std::advance(it, static_cast<std::ptrdiff_t>(rng() % node->size()));
      node = &*it;
    }
    return *node;
  }

  static nlohmann::json interesting_number(Rng& rng) {
    switch (rng() % 22) {
      case 0: return 0;
      case 1: return 1;
      case 2: return -1;
      case 3: return 2;
      case 4: return 3;
      case 5: return 255;
      case 6: return 256;
      case 7: return 1024;
      case 8: return 65536;
      case 9: return std::numeric_limits<int32_t>::max();
      case 10: return int64_t{1} << 31;
      case 11: return std::numeric_limits<int32_t>::min();
      case 12: return std::numeric_limits<uint32_t>::max();
      case 13: return int64_t{1} << 40;
      case 14: return (int64_t{1} << 40) + 1;
      case 15: return std::numeric_limits<int64_t>::max();
      case 16: return std::numeric_limits<int64_t>::min();
      case 17: return std::numeric_limits<uint64_t>::max();
      case 18: return 0.5;
      case 19: return -0.0;
      case 20: return 1e308;
      default: return 4096.0;  // an integer written as a float
    }
  }

  nlohmann::json random_value(const std::vector<nlohmann::json*>& nodes, Rng& rng) const {
    switch (rng() % 8) {
      case 0: return nullptr;
      case 1: return rng() % 2 == 0;
      case 2: return nlohmann::json::array();
      case 3: return nlohmann::json::object();
      case 4:
      case 5: return interesting_number(rng);
      case 6: return word(rng);
      default: return *nodes[rng() % nodes.size()];  // a copy of a subtree
    }
  }

  std::string word(Rng& rng) const {
    return words_.empty() ? std::string() : std::string(words_[rng() % words_.size()]);
  }

  void mutate_node(nlohmann::json& node, const std::vector<nlohmann::json*>& nodes, Rng& rng) const {
    switch (rng() % 6) {
      case 0:  // replace the value
        node = random_value(nodes, rng);
        return;
      case 1:  // delete a member or element
        if (node.is_object() && !node.empty()) {
          auto it = node.begin();
          std::advance(it, static_cast<std::ptrdiff_t>(rng() % node.size()));
          node.erase(it);
        } else if (node.is_array() && !node.empty()) {
          node.erase(node.begin() + static_cast<std::ptrdiff_t>(rng() % node.size()));
        } else {
          node = nullptr;
        }
        return;
      case 2:  // add a member or element
        if (node.is_object()) {
          node[word(rng)] = random_value(nodes, rng);
        } else if (node.is_array()) {
          const size_t at = node.empty() ? 0 : rng() % (node.size() + 1);
          nlohmann::json value = !node.empty() && rng() % 2 ? node[rng() % node.size()] : random_value(nodes, rng);
          node.insert(node.begin() + static_cast<std::ptrdiff_t>(at), std::move(value));
        } else {
          node = nlohmann::json::array({node});
        }
        return;
      case 3:  // rename a member
        if (node.is_object() && !node.empty()) {
          auto it = node.begin();
          std::advance(it, static_cast<std::ptrdiff_t>(rng() % node.size()));
          nlohmann::json value = std::move(*it);
          node.erase(it);
          node[word(rng)] = std::move(value);
          return;
        }
        node = word(rng);
        return;
      default:  // nudge a scalar
        nudge(node, rng);
        return;
    }
  }

  static void nudge(nlohmann::json& node, Rng& rng) {
    if (node.is_number_integer() || node.is_number_unsigned()) {
      // Unsigned arithmetic: wrapping around is one more edge case, not undefined behaviour.
      const uint64_t u = node.is_number_unsigned() ? node.get<uint64_t>() : static_cast<uint64_t>(node.get<int64_t>());
      const auto v = static_cast<int64_t>(u);
      switch (rng() % 5) {
        case 0: node = static_cast<int64_t>(u + 1); return;
        case 1: node = static_cast<int64_t>(u - 1); return;
        case 2: node = u * 2; return;
        case 3: node = static_cast<double>(v) + 0.5; return;
        default: node = std::to_string(v); return;
      }
    }
    if (node.is_number_float()) {
      const double d = node.get<double>();
      switch (rng() % 4) {
        case 0: node = -d; return;
        case 1: node = d * 1e6; return;
        case 2: node = std::abs(d) < 9e18 ? nlohmann::json(static_cast<int64_t>(d)) : nlohmann::json(d); return;
        default: node = d / 3; return;
      }
    }
    if (node.is_boolean()) {
      node = !node.get<bool>();
      return;
    }
    if (node.is_string()) {
      std::string s = node.get<std::string>();
      switch (rng() % 3) {
        case 0: s.resize(s.empty() ? 0 : rng() % s.size()); break;
        case 1: s += s; break;
        default: {
          const size_t max = s.size() + 16;
          s.resize(max);
          s.resize(LLVMFuzzerMutate(reinterpret_cast<uint8_t*>(s.data()), max - 16, max));
          break;
        }
      }
      node = std::move(s);
      return;
    }
    node = interesting_number(rng);
  }

  std::vector<std::string_view> words_;
};

}  // namespace genarm::fuzz
