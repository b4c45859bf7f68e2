// TrajectoryReward: a trajectory-level reward model (*ForSequenceClassification, num_labels 1)
// scoring a prompt and a complete (or partial) response — the judge of best-of-N and of
// evaluations, and the reward ARGS searches with. The RM's weights are shared; the scratch
// sequence is reused between calls.
// Thread-safety: not thread-safe (one per thread); the model may be shared.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "genarm/core/error.hpp"
#include "genarm/model/transformer.hpp"

namespace genarm {

class TrajectoryReward {
 public:
  explicit TrajectoryReward(model::Transformer rm) : rm_(std::move(rm)), state_(rm_.new_sequence()) {
    if (!rm_.is_reward_model()) {
      fail(ErrorCategory::kInvalidArgument, rm_.name(), " is a ", rm_.config().architecture,
           ", not a trajectory reward model (*ForSequenceClassification with num_labels 1)");
    }
  }

  // RM(prompt + response): the score of the last non-pad token.
  double operator()(std::span<const int32_t> prompt, std::span<const int32_t> response) {
    if (prompt.empty() && response.empty()) fail(ErrorCategory::kInvalidArgument, rm_.name(), ": nothing to score");
    state_.clear();
    rm_.forward(state_, prompt);
    rm_.forward(state_, response);
    return rm_.reward(state_);
  }

  // RM(prompt_i + response_i) for many pairs, in batched passes over the RM's weights: the same
  // values as operator() on each, bit for bit (the forward pass is batch-invariant).
  std::vector<double> score_batch(std::span<const std::pair<std::span<const int32_t>, std::span<const int32_t>>> items) {
    std::vector<double> out;
    out.reserve(items.size());
    constexpr size_t kGroup = 64;
    for (size_t begin = 0; begin < items.size(); begin += kGroup) {
      const size_t end = std::min(items.size(), begin + kGroup);
      batch_states_.resize(end - begin);
      joined_.resize(end - begin);
      batch_.clear();
      for (size_t i = begin; i < end; ++i) {
        const auto& [prompt, response] = items[i];
        if (prompt.empty() && response.empty()) fail(ErrorCategory::kInvalidArgument, rm_.name(), ": nothing to score");
        auto& joined = joined_[i - begin];
        joined.assign(prompt.begin(), prompt.end());
        joined.insert(joined.end(), response.begin(), response.end());
        auto& s = batch_states_[i - begin];
        if (s.max_length() == 0) s = rm_.new_sequence();
        s.clear();
        batch_.push_back({&s, joined, false, nullptr});
      }
      rm_.forward_batch(batch_, workspace_, state_.thread_pool());
      for (auto& s : batch_states_) out.push_back(rm_.reward(s));
    }
    return out;
  }

  void set_thread_pool(ThreadPool* pool) { state_.set_thread_pool(pool); }
  const model::Transformer& model() const { return rm_; }

 private:
  model::Transformer rm_;
  model::SequenceState state_;
  std::vector<model::SequenceState> batch_states_;  // score_batch: one per pair of a group
  std::vector<std::vector<int32_t>> joined_;         // prompt + response of each
  std::vector<model::BatchItem> batch_;
  model::ForwardWorkspace workspace_;
};

}  // namespace genarm
