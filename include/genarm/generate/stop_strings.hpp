// StopStringFilter: sits between the streaming detokenizer and the user. It passes text through
// until one of the stop strings appears, holding back any tail that could still become a stop
// string, so that nothing after (or part of) a stop string is ever shown.
// Thread-safety: not thread-safe (one per generation).
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace genarm {

class StopStringFilter {
 public:
  explicit StopStringFilter(std::vector<std::string> stops = {}) : stops_(std::move(stops)) {
    for (const auto& s : stops_) longest_ = std::max(longest_, s.size());
  }

  // Adds decoded text; returns the part that is now safe to show. After a stop string is found,
  // stopped() is true and everything from the stop string on is dropped.
  std::string push(std::string_view piece) {
    if (stopped_) return {};
    pending_.append(piece);
    if (stops_.empty()) return take(pending_.size());
    size_t cut = std::string::npos;
    for (const auto& s : stops_) cut = std::min(cut, pending_.find(s));
    if (cut != std::string::npos) {
      stopped_ = true;
      std::string out = take(cut);
      pending_.clear();
      return out;
    }
    return take(pending_.size() - held_back());
  }

  // End of generation: whatever is held back is final.
  std::string finish() { return stopped_ ? std::string() : take(pending_.size()); }

  bool stopped() const { return stopped_; }
  void reset() {
    pending_.clear();
    stopped_ = false;
  }

 private:
  // Length of the longest suffix of pending_ that is a proper prefix of a stop string.
  size_t held_back() const {
    const size_t max = std::min(pending_.size(), longest_ - 1);
    for (size_t len = max; len > 0; --len) {
      const std::string_view tail(pending_.data() + pending_.size() - len, len);
      for (const auto& s : stops_) {
        if (s.size() > len && std::string_view(s).substr(0, len) == tail) return len;
      }
    }
    return 0;
  }
  std::string take(size_t n) {
    std::string out = pending_.substr(0, n);
    pending_.erase(0, n);
    return out;
  }

  std::vector<std::string> stops_;
  size_t longest_ = 0;
  std::string pending_;  // text not yet released
  bool stopped_ = false;
};

}  // namespace genarm
