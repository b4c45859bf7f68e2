// BatchGenerator: continuous batching gives every request exactly what generate() gives it alone —
// tokens, text, stop reason and per-token log-probs, bit for bit — for any batch size, thread
// count and prefill chunking, with requests that use different ARMs, weights, betas, samplers,
// seeds and limits, finishing at different steps while others join.
#include "genarm/generate/batch_generator.hpp"

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "genarm/generate/best_of_n.hpp"
#include "genarm/generate/generator.hpp"
#include "genarm/guidance/args_policy.hpp"
#include "genarm/guidance/guided_model.hpp"
#include "test_support.hpp"

namespace genarm {
namespace {

using testing::hf_dir;

GuidedModel family() {
  return GuidedModel::load(hf_dir() / "models" / "llama-tiny",
                           {hf_dir() / "models" / "llama-tiny-arm", hf_dir() / "models" / "llama-tiny-arm2"});
}

// A policy over the given subset of the model's ARMs, decoded alone (the reference).
GuidedPolicy<TransformerSource> policy_alone(const GuidedModel& model, const BatchRequest& r) {
  std::vector<TransformerSource> guides;
  for (size_t a : r.arms) guides.emplace_back(model.arms()[a]);
  return GuidedPolicy<TransformerSource>(TransformerSource(model.base()), std::move(guides), model.vocab_size(),
                                         r.guidance);
}

GenerationResult generate_alone(const GuidedModel& model, BatchRequest r, int sample = 0) {
  auto policy = policy_alone(model, r);
  sampling::SamplerParams params = r.sampler;
  params.seed += static_cast<uint64_t>(sample);
  sampling::Sampler sampler(params, model.vocab_size());
  if (r.config.eos_token_ids.empty()) r.config.eos_token_ids = model.eos_token_ids();
  return generate(policy, sampler, model.tokenizer(), r.prompts, r.config, r.on_text);
}

::testing::AssertionResult same_result(const GenerationResult& got, const GenerationResult& want) {
  if (got.ids != want.ids) return ::testing::AssertionFailure() << "different tokens";
  if (got.text != want.text) return ::testing::AssertionFailure() << "text '" << got.text << "' vs '" << want.text << "'";
  if (got.stop_reason != want.stop_reason) {
    return ::testing::AssertionFailure() << "stop " << to_string(got.stop_reason) << " vs " << to_string(want.stop_reason);
  }
  if (got.details.size() != want.details.size() ||
      std::memcmp(got.details.data(), want.details.data(), got.details.size() * sizeof(TokenDetail)) != 0) {
    return ::testing::AssertionFailure() << "different per-token log-probs";
  }
  if (got.guide_logprobs != want.guide_logprobs) return ::testing::AssertionFailure() << "different ARM log-probs";
  return ::testing::AssertionSuccess();
}

// Twelve requests that differ in everything a request can set.
std::vector<BatchRequest> mixed_requests(const GuidedModel& model) {
  const auto& tok = model.tokenizer();
  const char* texts[] = {"The weather today", "Once", "In the valley there was a small river and", "A",
                         "The license", "We went to the market", "Dear friend,", "It"};
  std::vector<BatchRequest> out;
  for (size_t i = 0; i < 12; ++i) {
    BatchRequest r;
    r.prompts.base = tok.encode(texts[i % 8]);
    switch (i % 4) {
      case 0: break;  // the base alone
      case 1: r.arms = {0}; r.guidance = Guidance{{1.0f}, 0.5f}; break;
      case 2: r.arms = {1, 0}; r.guidance = Guidance{{0.3f, 0.7f}, 1.0f}; break;
      case 3: r.arms = {1}; r.guidance = Guidance{{}, 2.0f}; break;
    }
    if (i == 5) r.prompts.guides = {tok.encode(std::string("Positive: ") + texts[i % 8])};
    r.sampler.seed = 100 + i;
    if (i % 3 == 0) r.sampler.greedy = true;
    if (i % 3 == 1) r.sampler.top_p = 0.9f;
    if (i % 3 == 2) {
      r.sampler.temperature = 0.8f;
      r.sampler.top_k = 20;
      r.sampler.repetition_penalty = 1.1f;
    }
    r.config.max_new_tokens = 5 + static_cast<int>((i * 7) % 23);
    if (i == 4) r.config.stop_strings = {"e"};
    if (i == 7) r.config.ignore_eos = true;
    out.push_back(std::move(r));
  }
  return out;
}

std::map<uint64_t, GenerationResult> run_batched(const GuidedModel& model, const std::vector<BatchRequest>& requests,
                                                 BatchGenerator::Options options, ThreadPool* pool,
                                                 std::vector<uint64_t>* ids = nullptr) {
  BatchGenerator engine(model, options, pool);
  std::map<uint64_t, GenerationResult> done;
  for (auto r : requests) {
    r.on_done = [&](uint64_t id, int, GenerationResult result) { done[id] = std::move(result); };
    const uint64_t id = engine.submit(std::move(r));
    if (ids) ids->push_back(id);
  }
  engine.run();
  return done;
}

TEST(BatchGenerator, EveryRequestEqualsGeneratingItAlone) {
  const auto model = family();
  const auto requests = mixed_requests(model);
  std::vector<GenerationResult> alone;
  for (const auto& r : requests) alone.push_back(generate_alone(model, r));
  ThreadPool two(2);
  for (size_t batch : {1, 2, 3, 8}) {
    for (int64_t step_tokens : {256, 3}) {
      for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &two}) {
        std::vector<uint64_t> ids;
        const auto done = run_batched(model, requests, {batch, step_tokens}, pool, &ids);
        ASSERT_EQ(done.size(), requests.size());
        for (size_t i = 0; i < requests.size(); ++i) {
          EXPECT_TRUE(same_result(done.at(ids[i]), alone[i]))
              << "request " << i << ", batch " << batch << ", prefill chunks of " << step_tokens
              << (pool ? ", 2 threads" : ", 1 thread");
        }
      }
    }
  }
}

TEST(BatchGenerator, RequestsJoinARunningBatch) {
  const auto model = family();
  const auto requests = mixed_requests(model);
  BatchGenerator engine(model, {4, 256}, nullptr);
  std::map<uint64_t, GenerationResult> done;
  std::vector<uint64_t> ids;
  size_t submitted = 0;
  // One new request every other step, while earlier ones are still decoding.
  for (int step = 0;; ++step) {
    if (submitted < requests.size() && step % 2 == 0) {
      auto r = requests[submitted++];
      r.on_done = [&](uint64_t id, int, GenerationResult result) { done[id] = std::move(result); };
      ids.push_back(engine.submit(std::move(r)));
    }
    if (!engine.step() && submitted == requests.size()) break;
  }
  ASSERT_EQ(done.size(), requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    EXPECT_TRUE(same_result(done.at(ids[i]), generate_alone(model, requests[i]))) << "request " << i;
  }
  const auto stats = engine.stats();
  EXPECT_EQ(stats.completed, requests.size());
  EXPECT_EQ(stats.running, 0u);
  EXPECT_GT(stats.batch_rows, stats.steps);  // some steps sampled several sequences
}

TEST(BatchGenerator, SamplesShareThePrefillAndEqualBestOfNCandidates) {
  const auto model = family();
  BatchRequest r;
  r.prompts.base = model.tokenizer().encode("The weather today");
  r.arms = {0};
  r.guidance = Guidance{{}, 1.0f};
  r.sampler.seed = 9;
  r.config.max_new_tokens = 12;
  r.config.eos_token_ids = model.eos_token_ids();
  r.samples = 3;
  std::map<int, GenerationResult> samples;
  BatchGenerator engine(model, {4, 256}, nullptr);
  r.on_done = [&](uint64_t, int sample, GenerationResult result) { samples[sample] = std::move(result); };
  engine.submit(r);
  engine.run();
  ASSERT_EQ(samples.size(), 3u);
  auto policy = policy_alone(model, r);
  sampling::Sampler sampler(r.sampler, model.vocab_size());
  const auto best = best_of_n(policy, sampler, model.tokenizer(), r.prompts, r.config, 3, r.sampler.seed,
                              [](const Prompts&, const GenerationResult& g) { return static_cast<double>(g.ids.size()); });
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(same_result(samples[i], best.candidates[static_cast<size_t>(i)])) << "sample " << i;
  }
}

TEST(BatchGenerator, CallbacksStreamAndStopLikeGenerate) {
  const auto model = family();
  auto requests = mixed_requests(model);
  std::map<size_t, std::string> streamed;
  for (size_t i = 0; i < requests.size(); ++i) {
    requests[i].config.ignore_eos = true;
    requests[i].config.max_new_tokens = 30;
    // Request i stops itself after i pieces of text.
    requests[i].on_text = [&streamed, i, pieces = size_t{0}](std::string_view piece) mutable {
      streamed[i] += std::string(piece);
      return ++pieces <= i;
    };
  }
  std::vector<uint64_t> ids;
  const auto done = run_batched(model, requests, {5, 256}, nullptr, &ids);
  for (size_t i = 0; i < requests.size(); ++i) {
    const std::string batched = streamed[i];
    streamed[i].clear();
    const auto want = generate_alone(model, requests[i]);
    EXPECT_TRUE(same_result(done.at(ids[i]), want)) << "request " << i;
    EXPECT_EQ(batched, streamed[i]) << "request " << i;
  }
}

TEST(BatchGenerator, CancelEndsOneRequestOnly) {
  const auto model = family();
  auto requests = mixed_requests(model);
  for (auto& r : requests) {
    r.config.ignore_eos = true;
    r.config.max_new_tokens = 20;
  }
  BatchGenerator engine(model, {3, 256}, nullptr);
  std::map<uint64_t, GenerationResult> done;
  std::vector<uint64_t> ids;
  for (auto r : requests) {
    r.on_done = [&](uint64_t id, int, GenerationResult result) { done[id] = std::move(result); };
    ids.push_back(engine.submit(std::move(r)));
  }
  for (int i = 0; i < 4; ++i) engine.step();
  engine.cancel(ids[1]);   // running
  engine.cancel(ids[10]);  // still waiting
  engine.run();
  ASSERT_EQ(done.size(), requests.size());
  EXPECT_EQ(done.at(ids[1]).stop_reason, StopReason::kCallback);
  EXPECT_LT(done.at(ids[1]).ids.size(), 20u);
  EXPECT_EQ(done.at(ids[10]).stop_reason, StopReason::kCallback);
  EXPECT_TRUE(done.at(ids[10]).ids.empty());
  for (size_t i : {0, 2, 3, 9, 11}) EXPECT_TRUE(same_result(done.at(ids[i]), generate_alone(model, requests[i]))) << i;
}

TEST(BatchGenerator, ArgsRequestsEqualArgsAlone) {
  const auto model = family();
  const auto rm = model::Transformer::load(hf_dir() / "models" / "llama-rm-tiny");
  std::vector<BatchRequest> requests;
  const char* texts[] = {"The weather today", "Once", "In the valley there was", "A", "Dear friend,"};
  for (size_t i = 0; i < 5; ++i) {
    BatchRequest r;
    r.prompts.base = model.tokenizer().encode(texts[i]);
    r.args = ArgsParams{static_cast<int>(3 + i), 0.5f + static_cast<float>(i)};
    r.sampler.seed = 50 + i;
    r.sampler.greedy = i % 2 == 0;  // ARGS-greedy and stochastic ARGS
    r.config.max_new_tokens = 6 + static_cast<int>(i);
    r.config.eos_token_ids = model.eos_token_ids();
    requests.push_back(std::move(r));
  }
  // Mixed with GenARM requests in the same batch.
  auto genarm = mixed_requests(model);
  requests.insert(requests.end(), genarm.begin(), genarm.begin() + 4);
  BatchGenerator engine(model, {4, 256}, nullptr, &rm);
  std::map<uint64_t, GenerationResult> done;
  std::vector<uint64_t> ids;
  for (auto r : requests) {
    r.on_done = [&](uint64_t id, int, GenerationResult result) { done[id] = std::move(result); };
    ids.push_back(engine.submit(std::move(r)));
  }
  engine.run();
  for (size_t i = 0; i < requests.size(); ++i) {
    GenerationResult want;
    if (requests[i].args) {
      ArgsPolicy<TransformerSource> args(TransformerSource(model.base()), rm, model.vocab_size(), *requests[i].args);
      sampling::Sampler sampler(requests[i].sampler, model.vocab_size());
      want = generate(args, sampler, model.tokenizer(), requests[i].prompts, requests[i].config);
    } else {
      want = generate_alone(model, requests[i]);
    }
    EXPECT_TRUE(same_result(done.at(ids[i]), want)) << "request " << i;
  }
}

TEST(BatchGenerator, BadRequestsAreRefusedAtSubmit) {
  const auto model = family();
  BatchGenerator engine(model, {2, 256}, nullptr);
  BatchRequest r;
  GENARM_EXPECT_ERROR(engine.submit(r), ErrorCategory::kInvalidArgument, "prompt is empty");
  r.prompts.base = {1, 2};
  r.arms = {5};
  GENARM_EXPECT_ERROR(engine.submit(r), ErrorCategory::kInvalidArgument, "ARM index 5 is out of range");
  r.arms = {0, 0};
  GENARM_EXPECT_ERROR(engine.submit(r), ErrorCategory::kInvalidArgument, "given twice");
  r.arms = {0};
  r.guidance = Guidance{{1.0f}, 0.0f};
  GENARM_EXPECT_ERROR(engine.submit(r), ErrorCategory::kInvalidArgument, "beta must be");
  r.guidance = Guidance{{1.0f, 2.0f}, 1.0f};
  GENARM_EXPECT_ERROR(engine.submit(r), ErrorCategory::kInvalidArgument, "weight(s) for 1 ARM");
  r.guidance = Guidance{};
  r.samples = 3;
  GENARM_EXPECT_ERROR(engine.submit(r), ErrorCategory::kInvalidArgument, "samples must be in [1, 2]");
  r.samples = 1;
  r.args = ArgsParams{};
  GENARM_EXPECT_ERROR(engine.submit(r), ErrorCategory::kInvalidArgument, "ARGS needs a reward model");
  r.args.reset();
  r.prompts.base = {1, static_cast<int32_t>(model.vocab_size())};
  GENARM_EXPECT_ERROR(engine.submit(r), ErrorCategory::kInvalidArgument, "outside the vocabulary");
  EXPECT_FALSE(engine.step());
}

TEST(BatchGenerator, APromptBeyondTheContextFailsThatRequestOnly) {
  const auto model = family();
  BatchGenerator engine(model, {2, 256}, nullptr);
  std::string error;
  std::map<uint64_t, GenerationResult> done;
  BatchRequest too_long;
  too_long.prompts.base.assign(static_cast<size_t>(model.base().config().max_position_embeddings), 1);
  too_long.on_error = [&](uint64_t, const std::string& message) { error = message; };
  BatchRequest fine;
  fine.prompts.base = {1, 2, 3};
  fine.config.max_new_tokens = 4;
  fine.on_done = [&](uint64_t id, int, GenerationResult r) { done[id] = std::move(r); };
  engine.submit(too_long);
  const uint64_t ok = engine.submit(fine);
  engine.run();
  EXPECT_NE(error.find("leaves no room"), std::string::npos) << error;
  ASSERT_EQ(done.count(ok), 1u);
  EXPECT_EQ(done.at(ok).ids.size(), 4u);
}

}  // namespace
}  // namespace genarm
