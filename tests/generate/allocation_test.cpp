// The decoding loop does not allocate per token: after the buffers are sized (first generation),
// a generation of 64 tokens allocates a bounded number of times, independent of its length.
// Counts every global operator new in this test binary (thread-safe counter; counting only).
#include <atomic>
#include <cstdlib>
#include <new>

// The replacement operator new below takes its memory from malloc, so free in operator delete is
// the matching call; GCC cannot see that once the two are inlined into one function.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include "genarm/generate/batch_generator.hpp"
#include "genarm/generate/generator.hpp"
#include "genarm/guidance/guided_model.hpp"
#include "test_support.hpp"

namespace {
std::atomic<size_t> g_allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace genarm {
namespace {

size_t allocations_for(int tokens, const GuidedModel& model, GuidedPolicy<TransformerSource>& policy,
                       sampling::Sampler& sampler, bool details) {
  GenerationConfig config;
  config.max_new_tokens = tokens;
  config.ignore_eos = true;
  config.details = details;
  const Prompts prompts{{1, 50, 60, 70}, {}};
  const size_t before = g_allocations.load();
  const auto r = generate(policy, sampler, model.tokenizer(), prompts, config);
  const size_t after = g_allocations.load();
  EXPECT_EQ(r.ids.size(), static_cast<size_t>(tokens));
  return after - before;
}

TEST(Allocation, DecodingLoopAllocatesIndependentlyOfLength) {
  const auto model = GuidedModel::load(testing::hf_dir() / "models" / "llama-tiny",
                                       {testing::hf_dir() / "models" / "llama-tiny-arm"});
  auto policy = model.new_policy(Guidance{{}, 0.5f});
  sampling::SamplerParams params;
  params.top_p = 0.9f;
  params.repetition_penalty = 1.1f;
  sampling::Sampler sampler(params, model.vocab_size());
  for (bool details : {false, true}) {
    allocations_for(200, model, policy, sampler, details);  // warm-up: buffers reach their size
    const size_t short_run = allocations_for(16, model, policy, sampler, details);
    const size_t long_run = allocations_for(200, model, policy, sampler, details);
    // Per-generation setup (result vectors, the stream decoder, ...) is allowed, and so is the rare
    // text piece too long for a short string; one allocation per token (184 more) is not.
    EXPECT_LE(long_run, short_run + 20) << "details " << details << ": " << short_run << " allocations for 16 tokens, "
                                       << long_run << " for 200";
  }
}

// A batch of four requests (different ARMs and samplers) decoded together by BatchGenerator.
size_t batched_allocations_for(int tokens, const GuidedModel& model, BatchGenerator& engine) {
  size_t finished = 0;
  for (int i = 0; i < 4; ++i) {
    BatchRequest r;
    r.prompts.base = {1, 50, static_cast<int32_t>(60 + i), 70};
    if (i % 2 == 1) {
      r.arms = {0};
      r.guidance = Guidance{{}, 0.5f};
    }
    r.sampler.seed = static_cast<uint64_t>(i);
    r.sampler.top_p = 0.9f;
    r.config.max_new_tokens = tokens;
    r.config.ignore_eos = true;
    r.on_done = [&finished, tokens](uint64_t, int, GenerationResult result) {
      EXPECT_EQ(result.ids.size(), static_cast<size_t>(tokens));
      ++finished;
    };
    engine.submit(std::move(r));
  }
  const size_t before = g_allocations.load();
  engine.run();
  const size_t after = g_allocations.load();
  EXPECT_EQ(finished, 4u);
  (void)model;
  return after - before;
}

TEST(Allocation, BatchedLoopAllocatesIndependentlyOfLength) {
  const auto model = GuidedModel::load(testing::hf_dir() / "models" / "llama-tiny",
                                       {testing::hf_dir() / "models" / "llama-tiny-arm"});
  BatchGenerator engine(model, {4, 256}, nullptr);
  batched_allocations_for(200, model, engine);  // warm-up: slots and workspaces reach their size
  const size_t short_run = batched_allocations_for(16, model, engine);
  const size_t long_run = batched_allocations_for(200, model, engine);
  // Per-request setup (policy, sampler, decoder, result) is allowed, and per sequence the same
  // allowance as above for text that outgrows its reservation; 4 x 184 more for the longer run
  // would be one allocation per token.
  EXPECT_LE(long_run, short_run + 4 * 20) << short_run << " allocations for 4 x 16 tokens, " << long_run << " for 4 x 200";
}

}  // namespace
}  // namespace genarm
