// ForwardWorkspace: the scratch memory of Transformer forward passes over a batch of rows — hidden
// states, projections, MLP activations, attention scores, the gathered rows that need logits.
// Sized by the largest pass it has served and then reused, so a warm decoding loop (single
// sequence or batch) does not allocate. Its content means nothing between passes.
// Ownership: owns its buffers. Copies start empty (scratch is not part of any value).
// Thread-safety: not thread-safe; one per batch engine or per sequence.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace genarm::model {

class LoraAdapter;

class ForwardWorkspace {
 public:
  ForwardWorkspace() = default;
  ForwardWorkspace(const ForwardWorkspace&) {}
  ForwardWorkspace& operator=(const ForwardWorkspace&) { return *this; }
  ForwardWorkspace(ForwardWorkspace&&) noexcept = default;
  ForwardWorkspace& operator=(ForwardWorkspace&&) noexcept = default;

  // Bytes held (for memory reports).
  size_t bytes() const {
    return floats_.capacity() * sizeof(float) + rows_.capacity() * sizeof(Row) + lora_runs_.capacity() * sizeof(LoraRun);
  }

 private:
  friend class Transformer;

  // One row of a pass: which item it belongs to and where it sits in that item's sequence.
  struct Row {
    int32_t item;     // index into the pass's items
    int32_t token;    // input id
    int64_t pos;      // position (RoPE / learned positions; causal limit)
    int64_t slot;     // KV cache slot it writes (pos, or pos + j for the j-th sibling)
    bool sibling;     // attends to [0, pos) and its own slot only
  };
  // Consecutive rows of a pass with the same LoRA adapter.
  struct LoraRun {
    int64_t begin, end;  // rows [begin, end) of the pass
    const LoraAdapter* adapter;
  };

  std::vector<float> floats_;     // every float buffer of a pass, laid out by the Transformer
  std::vector<Row> rows_;         // (rows of the pass)
  std::vector<int32_t> gathered_; // (rows needing logits) index into rows_
  std::vector<int64_t> offsets_;  // (items + 1) first row of each item
  std::vector<int64_t> lengths_;  // (items) each sequence's length before the batch
  std::vector<LoraRun> lora_runs_;  // (runs of adapted rows of the pass)
};

}  // namespace genarm::model
