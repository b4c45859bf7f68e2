// genarm::sampling::Processor and Chain — one step of a sampler, and a sequence of steps that is
// itself a step (llama.cpp include/llama.h: llama_sampler_i with apply / accept / reset / clone,
// and llama_sampler_chain).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "genarm/core/error.hpp"
#include "genarm/sampling/candidates.hpp"

namespace genarm::sampling {

// One step of sampling: rewrites, filters, sorts or selects among the candidates of a step, and
// may keep per-sequence state (token history, RNG) updated through accept() / reset().
// Owns its state; clone() returns an independent copy with the same state.
// Not thread-safe (one per sequence).
class Processor {
 public:
  virtual ~Processor() = default;

  virtual std::string_view name() const = 0;
  virtual void apply(Candidates& candidates) = 0;
  // A token was appended to the sequence (prompt tokens too, as HF's penalties see input_ids).
  virtual void accept(int32_t /*token*/) {}
  // Start a new sequence: forget the history.
  virtual void reset() {}
  virtual std::unique_ptr<Processor> clone() const = 0;
  // Sizes internal buffers for `vocab_size` tokens, so that later apply() / accept() calls on
  // vocabularies up to that size never allocate. Optional: without it buffers grow on first use.
  virtual void reserve(size_t /*vocab_size*/) {}
};

// Processors applied in order; accept / reset / reserve reach every one of them.
// Owns its processors; copying a Chain deep-copies them (clone()).
// Not thread-safe (one per sequence).
class Chain final : public Processor {
 public:
  Chain() = default;
  Chain(const Chain& other) {
    steps_.reserve(other.steps_.size());
    for (const auto& step : other.steps_) steps_.push_back(step->clone());
  }
  Chain& operator=(const Chain& other) {
    if (this != &other) {
      Chain copy(other);
      steps_ = std::move(copy.steps_);
    }
    return *this;
  }
  Chain(Chain&&) noexcept = default;
  Chain& operator=(Chain&&) noexcept = default;
  ~Chain() override = default;

  Chain& add(std::unique_ptr<Processor> step) {
    if (!step) fail(ErrorCategory::kInvalidArgument, "Chain::add: null processor");
    steps_.push_back(std::move(step));
    return *this;
  }

  // Constructs a processor in place at the end and returns it.
  template <typename P, typename... Args>
  P& emplace(Args&&... args) {
    auto step = std::make_unique<P>(std::forward<Args>(args)...);
    P& ref = *step;
    steps_.push_back(std::move(step));
    return ref;
  }

  size_t size() const { return steps_.size(); }
  bool empty() const { return steps_.empty(); }

  Processor& at(size_t i) {
    check_index(i);
    return *steps_[i];
  }
  const Processor& at(size_t i) const {
    check_index(i);
    return *steps_[i];
  }

  std::string_view name() const override { return "chain"; }

  void apply(Candidates& candidates) override {
    for (const auto& step : steps_) step->apply(candidates);
  }
  void accept(int32_t token) override {
    for (const auto& step : steps_) step->accept(token);
  }
  void reset() override {
    for (const auto& step : steps_) step->reset();
  }
  void reserve(size_t vocab_size) override {
    for (const auto& step : steps_) step->reserve(vocab_size);
  }
  std::unique_ptr<Processor> clone() const override { return std::make_unique<Chain>(*this); }

 private:
  void check_index(size_t i) const {
    if (i >= steps_.size()) {
      fail(ErrorCategory::kInvalidArgument, "Chain::at(", i, "): the chain has ", steps_.size(),
           " processors");
    }
  }

  std::vector<std::unique_ptr<Processor>> steps_;
};

}  // namespace genarm::sampling
