// Transformer::forward_batch: many sequences per pass over the weights, and batch invariance — a
// sequence's logits (or reward-model scores) are bit-identical to decoding it alone, whatever the
// batch size, the other sequences, when they join and leave, how prompts are chunked, and the
// number of threads.
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "genarm/core/thread_pool.hpp"
#include "genarm/model/synthetic.hpp"
#include "genarm/model/transformer.hpp"
#include "model_test_helpers.hpp"
#include "test_support.hpp"

namespace genarm::model {
namespace {

using genarm::testing::hf_dir;
using genarm::testing::llama_config;
using genarm::testing::patched;
using genarm::testing::TempDir;
using genarm::testing::token_ids;

// What one sequence gives when decoded alone: the output after each of its tokens, from the
// prompt's last token on (logits for a causal LM, the score for a reward model).
struct Script {
  std::vector<int32_t> prompt;
  std::vector<int32_t> continuation;  // fed one token per step after the prompt
  int join_step = 0;                  // the batch step at which it joins
};

std::vector<float> output_of(const Transformer& m, const SequenceState& s) {
  if (m.is_reward_model()) return {m.reward(s)};
  return {s.logits().begin(), s.logits().end()};
}

// Decoded alone: prefill the prompt in one call, then one token at a time.
std::vector<std::vector<float>> decode_alone(const Transformer& m, const Script& script, ThreadPool* pool) {
  auto s = m.new_sequence();
  s.set_thread_pool(pool);
  std::vector<std::vector<float>> out;
  m.forward(s, script.prompt);
  out.push_back(output_of(m, s));
  for (int32_t t : script.continuation) {
    m.forward(s, t);
    out.push_back(output_of(m, s));
  }
  return out;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Runs the scripts as one ragged, continuously batched run: a sequence joins at its step (its prompt
// as one item, or in chunks of `chunk` tokens over several steps when chunk > 0), then takes one
// continuation token per step and leaves when it has none left. Checks every output bitwise
// against `alone`.
void check_batched(const Transformer& m, const std::vector<Script>& scripts,
                   const std::vector<std::vector<std::vector<float>>>& alone, ThreadPool* pool, int64_t chunk,
                   const std::string& what) {
  const size_t n = scripts.size();
  std::vector<SequenceState> states;
  for (size_t i = 0; i < n; ++i) states.push_back(m.new_sequence());
  std::vector<size_t> fed(n, 0);  // prompt tokens fed
  std::vector<size_t> next(n, 0); // outputs checked
  ForwardWorkspace ws;
  for (int step = 0;; ++step) {
    std::vector<BatchItem> items;
    std::vector<size_t> owners;
    std::vector<int32_t> single(n);
    bool pending = false;
    for (size_t i = 0; i < n; ++i) {
      const Script& sc = scripts[i];
      if (step < sc.join_step) {
        pending = true;
        continue;
      }
      if (fed[i] < sc.prompt.size()) {
        const size_t take = chunk > 0 ? std::min<size_t>(static_cast<size_t>(chunk), sc.prompt.size() - fed[i])
                                      : sc.prompt.size() - fed[i];
        items.push_back({&states[i], std::span<const int32_t>(sc.prompt).subspan(fed[i], take), false, nullptr});
        fed[i] += take;
        owners.push_back(i);
      } else if (next[i] <= sc.continuation.size() && next[i] >= 1) {
        single[i] = sc.continuation[next[i] - 1];
        items.push_back({&states[i], std::span<const int32_t>(&single[i], 1), false, nullptr});
        owners.push_back(i);
      }
    }
    if (items.empty() && !pending) break;
    m.forward_batch(items, ws, pool);
    for (size_t i : owners) {
      if (fed[i] < scripts[i].prompt.size()) continue;  // mid-prompt: no output to check yet
      ASSERT_LT(next[i], alone[i].size());
      EXPECT_TRUE(same_bits(output_of(m, states[i]), alone[i][next[i]]))
          << what << ": sequence " << i << " output " << next[i] << " differs from decoding it alone";
      ++next[i];
    }
  }
  for (size_t i = 0; i < n; ++i) EXPECT_EQ(next[i], alone[i].size()) << what << ": sequence " << i;
}

// Ragged scripts for batch size b: prompt lengths 1..9+, continuations of different lengths,
// joining at different steps.
std::vector<Script> scripts_for(size_t b, int64_t vocab) {
  std::vector<Script> out;
  for (size_t i = 0; i < b; ++i) {
    Script s;
    s.prompt = token_ids(1 + (i * 5) % 11, vocab, 100 + i);
    s.continuation = token_ids(3 + (i * 7) % 9, vocab, 200 + i);
    s.join_step = static_cast<int>((i * 3) % 5);
    out.push_back(std::move(s));
  }
  return out;
}

void check_model(const Transformer& m, const std::string& name) {
  ThreadPool two(2);
  for (size_t b : {1, 2, 3, 8}) {
    const auto scripts = scripts_for(b, m.vocab_size());
    std::vector<std::vector<std::vector<float>>> alone;
    for (const auto& s : scripts) alone.push_back(decode_alone(m, s, nullptr));
    for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &two}) {
      const std::string what = name + ", batch " + std::to_string(b) + (pool ? ", 2 threads" : ", 1 thread");
      check_batched(m, scripts, alone, pool, 0, what);
      check_batched(m, scripts, alone, pool, 2, what + ", prompts in chunks of 2");
    }
  }
}

class FixtureBatch : public ::testing::TestWithParam<std::string> {};

TEST_P(FixtureBatch, EverySequenceIsBitIdenticalToDecodingItAlone) {
  check_model(Transformer::load(hf_dir() / "models" / GetParam()), GetParam());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FixtureBatch,
                         ::testing::Values("llama-tiny", "llama-small", "llama-tiny-bf16", "llama-tiny-f16",
                                           "llama-tiny-arm", "gpt2-tiny", "llama-rm-tiny"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (char& c : s) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return s;
                         });

struct SyntheticCase {
  std::string name;
  nlohmann::json config;
  DType dtype = DType::kF32;
};
void PrintTo(const SyntheticCase& c, std::ostream* os) { *os << c.name; }

class SyntheticBatch : public ::testing::TestWithParam<SyntheticCase> {};

TEST_P(SyntheticBatch, EverySequenceIsBitIdenticalToDecodingItAlone) {
  TempDir dir("batch");
  SyntheticOptions options;
  options.dtype = GetParam().dtype;
  write_synthetic_model(dir.path(), GetParam().config, options);
  check_model(Transformer::load(dir.path()), GetParam().name);
}

INSTANTIATE_TEST_SUITE_P(
    Architectures, SyntheticBatch,
    ::testing::Values(
        SyntheticCase{"MistralSlidingWindow4",
                      patched(llama_config(83, 32, 2, 4, 2, 64),
                              {{"architectures", {"MistralForCausalLM"}}, {"model_type", "mistral"}, {"sliding_window", 4}})},
        SyntheticCase{"Qwen2QkvBiasTied",
                      patched(llama_config(89, 48, 2, 4, 2, 80), {{"architectures", {"Qwen2ForCausalLM"}},
                                                                  {"model_type", "qwen2"},
                                                                  {"tie_word_embeddings", true}}),
                      DType::kBF16},
        SyntheticCase{"LlamaMqaOddSizes", llama_config(97, 36, 2, 3, 1, 75), DType::kF16},
        SyntheticCase{"Gpt2Untied", patched(genarm::testing::gpt2_config(67, 32, 2, 4), {{"tie_word_embeddings", false}})}),
    [](const auto& info) { return info.param.name; });

// Quantised weights keep the property: activations are quantised row by row.
TEST(TransformerBatch, QuantizedWeightsAreBatchInvariantToo) {
  for (WeightType type : {WeightType::kQ8_0, WeightType::kQ4_0}) {
    LoadOptions options;
    options.weights = type;
    check_model(Transformer::load(hf_dir() / "models" / "llama-small", options),
                std::string("llama-small ") + std::string(weight_type_name(type)));
    check_model(Transformer::load(hf_dir() / "models" / "gpt2-tiny", options),
                std::string("gpt2-tiny ") + std::string(weight_type_name(type)));
  }
}

TEST(TransformerBatch, PrefillEqualsTokenByTokenDecoding) {
  const auto m = Transformer::load(hf_dir() / "models" / "llama-small");
  const auto ids = token_ids(37, m.vocab_size(), 11);
  auto whole = m.new_sequence();
  RowMatrix rows;
  m.forward_all(whole, ids, rows);
  auto stepwise = m.new_sequence();
  for (size_t t = 0; t < ids.size(); ++t) {
    const auto logits = m.forward(stepwise, ids[t]);
    EXPECT_EQ(std::memcmp(logits.data(), rows.row(static_cast<Eigen::Index>(t)).data(), logits.size() * sizeof(float)), 0)
        << "position " << t;
  }
}

TEST(TransformerBatch, SiblingsInABatchEqualSiblingsAlone) {
  const auto rm = Transformer::load(hf_dir() / "models" / "llama-rm-tiny");
  const std::vector<int32_t> candidates{5, 9, 17, 33};
  std::vector<SequenceState> alone, batched;
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 3; ++i) {
    prompts.push_back(token_ids(2 + 3 * static_cast<size_t>(i), rm.vocab_size(), 40 + static_cast<uint64_t>(i)));
    alone.push_back(rm.new_sequence());
    batched.push_back(rm.new_sequence());
    rm.forward(alone.back(), prompts.back());
    rm.forward(batched.back(), prompts.back());
  }
  ForwardWorkspace ws;
  std::vector<BatchItem> items;
  for (auto& s : batched) items.push_back({&s, candidates, true, nullptr});
  rm.forward_batch(items, ws, nullptr);
  for (size_t i = 0; i < alone.size(); ++i) {
    std::vector<float> want(candidates.size()), got(candidates.size());
    rm.forward_siblings(alone[i], candidates, want);
    rm.sibling_rewards(batched[i], got);
    EXPECT_TRUE(same_bits(want, got)) << "sequence " << i;
    rm.append_sibling(alone[i], 2);
    rm.append_sibling(batched[i], 2);
    EXPECT_EQ(rm.reward(alone[i]), rm.reward(batched[i]));
  }
}

TEST(TransformerBatch, InvalidItemsChangeNoSequence) {
  const auto m = Transformer::load(hf_dir() / "models" / "llama-tiny");
  auto a = m.new_sequence();
  auto b = m.new_sequence();
  m.forward(a, std::vector<int32_t>{1, 2, 3});
  const std::vector<float> before(a.logits().begin(), a.logits().end());
  ForwardWorkspace ws;
  const std::vector<int32_t> ok{4}, bad{4, static_cast<int32_t>(m.vocab_size())};
  std::vector<BatchItem> items{{&a, ok, false, nullptr}, {&b, bad, false, nullptr}};
  GENARM_EXPECT_ERROR(m.forward_batch(items, ws, nullptr), ErrorCategory::kInvalidArgument, "outside the vocabulary");
  items = {{&a, ok, false, nullptr}, {&a, ok, false, nullptr}};
  GENARM_EXPECT_ERROR(m.forward_batch(items, ws, nullptr), ErrorCategory::kInvalidArgument, "same sequence");
  items = {{&a, {}, false, nullptr}};
  GENARM_EXPECT_ERROR(m.forward_batch(items, ws, nullptr), ErrorCategory::kInvalidArgument, "without tokens");
  const std::vector<int32_t> long_prompt(static_cast<size_t>(m.config().max_position_embeddings) + 1, 1);
  items = {{&a, ok, false, nullptr}, {&b, long_prompt, false, nullptr}};
  GENARM_EXPECT_ERROR(m.forward_batch(items, ws, nullptr), ErrorCategory::kInvalidArgument, "exceeds the model's context");
  EXPECT_EQ(a.length(), 3);
  EXPECT_EQ(b.length(), 0);
  EXPECT_TRUE(same_bits(std::vector<float>(a.logits().begin(), a.logits().end()), before));
}

}  // namespace
}  // namespace genarm::model
