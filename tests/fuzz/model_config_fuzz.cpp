// Fuzzes genarm::io::parse_model_config: the input is parsed as JSON (text the JSON parser
// rejects ends there) and normalised into a ModelConfig. Mutations are structure-aware
// (json_mutator.hpp) over the fixture configs, so mutants are mostly valid JSON with config keys
// in odd types and edge-case values. Bad configs must end in a genarm::Error; an accepted one must
// satisfy what the model code relies on (positive sizes, head_dim consistent, heads divisible by
// KV heads, a positive finite epsilon and rope theta, ...).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "dictionaries.hpp"
#include "fuzz_support.hpp"
#include "genarm/io/json.hpp"
#include "genarm/io/model_config.hpp"
#include "json_mutator.hpp"

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  static const genarm::fuzz::JsonMutator mutator(genarm::fuzz::kModelConfigWords);
  return mutator.mutate(data, size, max_size, seed);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The production path: size and nesting bounded before nlohmann parses (io::parse_json).
  nlohmann::json json;
  try {
    json = genarm::io::parse_json(std::string_view(reinterpret_cast<const char*>(data), size), "config.json");
  } catch (const genarm::Error&) {
    return 0;
  }
  genarm::io::ModelConfig c;
  if (!genarm::fuzz::accepts("parse_model_config",
                             [&] { c = genarm::io::parse_model_config(json, "config.json"); })) {
    return 0;
  }
  using genarm::io::ModelFamily;
  using genarm::io::ModelHead;
  GENARM_FUZZ_CHECK(!c.architecture.empty() && !c.model_type.empty());
  GENARM_FUZZ_CHECK(c.vocab_size > 0 && c.hidden_size > 0 && c.num_hidden_layers > 0);
  GENARM_FUZZ_CHECK(c.num_attention_heads > 0 && c.num_key_value_heads > 0);
  GENARM_FUZZ_CHECK(c.num_attention_heads % c.num_key_value_heads == 0);
  GENARM_FUZZ_CHECK(c.head_dim > 0 && c.intermediate_size > 0 && c.max_position_embeddings > 0);
  // Sizes the model multiplies together must not overflow (they are bounded by 2^40 each).
  GENARM_FUZZ_CHECK(c.head_dim <= (int64_t{1} << 40) && c.num_attention_heads <= (int64_t{1} << 40));
  GENARM_FUZZ_CHECK(c.norm_eps > 0 && std::isfinite(c.norm_eps), "norm_eps ", c.norm_eps);
  if (c.family == ModelFamily::kLlama) {
    GENARM_FUZZ_CHECK(c.head_dim % 2 == 0, "head_dim ", c.head_dim);
    GENARM_FUZZ_CHECK(c.rope.theta > 0 && std::isfinite(c.rope.theta), "rope theta ", c.rope.theta);
    GENARM_FUZZ_CHECK(c.rope.type == "default" || c.rope.type == "linear" || c.rope.type == "llama3",
                      "rope type ", c.rope.type);
    if (c.rope.type != "default") {
      GENARM_FUZZ_CHECK(c.rope.factor > 0 && std::isfinite(c.rope.factor), "rope factor ", c.rope.factor);
    }
    if (c.rope.type == "llama3") {
      GENARM_FUZZ_CHECK(c.rope.low_freq_factor > 0 && c.rope.high_freq_factor > c.rope.low_freq_factor);
      GENARM_FUZZ_CHECK(c.rope.original_max_position_embeddings > 0);
    }
  } else {
    GENARM_FUZZ_CHECK(c.hidden_size == c.head_dim * c.num_attention_heads);
  }
  if (c.sliding_window) GENARM_FUZZ_CHECK(*c.sliding_window > 0);
  for (const int32_t id : c.eos_token_ids) GENARM_FUZZ_CHECK(id >= 0);
  if (c.bos_token_id) GENARM_FUZZ_CHECK(*c.bos_token_id >= 0);
  if (c.pad_token_id) GENARM_FUZZ_CHECK(*c.pad_token_id >= 0);
  if (c.head == ModelHead::kSequenceClassification) GENARM_FUZZ_CHECK(c.num_labels == 1);
  return 0;
}
