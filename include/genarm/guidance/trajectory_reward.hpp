// TrajectoryReward: a trajectory-level reward model (*ForSequenceClassification, num_labels 1)
// scoring a prompt and a complete (or partial) response — the judge of best-of-N and of
// evaluations, and the reward ARGS searches with. The RM's weights are shared; the scratch
// sequence is reused between calls.
// Thread-safety: not thread-safe (one per thread); the model may be shared.
#pragma once

#include <cstdint>
#include <span>

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

  void set_thread_pool(ThreadPool* pool) { state_.set_thread_pool(pool); }
  const model::Transformer& model() const { return rm_; }

 private:
  model::Transformer rm_;
  model::SequenceState state_;
};

}  // namespace genarm
