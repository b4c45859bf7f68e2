// AfinnScorer: the sentiment score used to judge the toy GenARM family — the sum of AFINN-165 word
// valences (Nielsen 2011; MIT-licensed word list, data/afinn165.json) over the words [a-z']+ of the
// lower-cased text, exactly as the toy models' reference evaluation computed it.
// Ownership: owns the word list. Thread-safety: immutable after load, thread-safe.
#pragma once

#include <climits>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>

#include "genarm/core/error.hpp"
#include "genarm/io/json.hpp"

namespace genarm::eval {

class AfinnScorer {
 public:
  // Loads a JSON object {"word": valence, ...}.
  static AfinnScorer load(const std::filesystem::path& path) {
    const nlohmann::json j = io::read_json_file(path);
    AfinnScorer s;
    io::JsonView(j, path.string(), ErrorCategory::kFormat).for_each_member([&](const std::string& word, const io::JsonView& value) {
      s.valence_[word] = static_cast<int>(value.as_int(INT_MIN, INT_MAX));
    });
    if (s.valence_.empty()) fail(ErrorCategory::kFormat, path.string(), ": empty word list");
    return s;
  }

  // Sum of the valences of the words of `text`.
  int score(std::string_view text) const {
    int total = 0;
    std::string word;
    const auto flush = [&] {
      if (word.empty()) return;
      if (auto it = valence_.find(word); it != valence_.end()) total += it->second;
      word.clear();
    };
    for (char ch : text) {
      const char c = (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch - 'A' + 'a') : ch;
      if ((c >= 'a' && c <= 'z') || c == '\'') {
        word.push_back(c);
      } else {
        flush();
      }
    }
    flush();
    return total;
  }

  size_t size() const { return valence_.size(); }

 private:
  std::unordered_map<std::string, int> valence_;
};

}  // namespace genarm::eval
