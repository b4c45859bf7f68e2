// LoadOptions: how Transformer::load keeps a checkpoint's weights in memory.
//   weights   nullopt (auto): as stored (F32 / F16 / BF16, memory-mapped, no copy), except that the
//             16-bit matrices of a model small enough to stay in the CPU's caches (<= 64 MiB as
//             float32) are widened to float32 once: such a model is compute-bound, and widening is
//             exact, so the results are the same bits either way;
//             f32 / f16 / bf16: every projection and the output head converted to that type;
//             q8_0 / q4_0: the projections quantised to llama.cpp's blocks, the output head to
//             Q8_0 in both cases (as llama.cpp keeps the head at higher precision), the embedding
//             table kept as stored (it is only looked up, one row per token).
//   pool      converts / quantises on these threads;
//   progress  called after each matrix with (bytes done, bytes in all), for a progress line.
// Thread-safety: plain value type.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string_view>

#include "genarm/core/error.hpp"
#include "genarm/core/thread_pool.hpp"
#include "genarm/model/weight_matrix.hpp"

namespace genarm::model {

struct LoadOptions {
  std::optional<WeightType> weights;
  ThreadPool* pool = nullptr;
  std::function<void(size_t done, size_t total)> progress;
};

// "auto" (nullopt), "f32", "f16", "bf16", "q8_0", "q4_0"; Error(kInvalidArgument) otherwise.
inline std::optional<WeightType> parse_weight_choice(std::string_view name) {
  if (name == "auto") return std::nullopt;
  for (WeightType t : {WeightType::kF32, WeightType::kF16, WeightType::kBF16, WeightType::kQ8_0, WeightType::kQ4_0}) {
    if (weight_type_name(t) == name) return t;
  }
  fail(ErrorCategory::kInvalidArgument, "weights '", name, "': expected auto, f32, f16, bf16, q8_0 or q4_0");
}

}  // namespace genarm::model
