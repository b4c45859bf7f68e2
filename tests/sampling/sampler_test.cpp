#include "genarm/sampling/sampler.hpp"

#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

#include "sampling_helpers.hpp"
#include "test_support.hpp"

// Counts every global operator new in this test binary, so a test can assert that a stretch of
// code does not allocate. Counting only: memory comes from malloc as usual.
namespace {
std::atomic<long> g_allocations{0};
}  // namespace

// GCC 12 inlines these into call sites and then flags free() on memory from operator new, not
// seeing that this operator new is malloc: a false positive for a replaced allocator.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
// Every other non-aligned form is replaced too, so that no allocation pairs this malloc/free with
// another allocator's (a sanitizer runtime replaces them all).
void* operator new[](std::size_t size) { return ::operator new(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size ? size : 1);
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept {
  return ::operator new(size, tag);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace genarm::sampling {
namespace {

using test::kInf;

SamplerParams full_params(uint64_t seed) {
  SamplerParams p;
  p.temperature = 0.8f;
  p.top_k = 40;
  p.top_p = 0.95f;
  p.min_p = 0.05f;
  p.typical_p = 0.95f;
  p.repetition_penalty = 1.1f;
  p.frequency_penalty = 0.2f;
  p.presence_penalty = 0.1f;
  p.penalty_window = 64;
  p.logit_bias = {{5, -kInf}, {6, 1.0f}};
  p.seed = seed;
  return p;
}

TEST(Sampler, StepsDoNotAllocateAfterConstruction) {
  const size_t vocab = 32000;
  std::vector<std::vector<float>> logits;
  for (uint64_t s = 0; s < 4; ++s) logits.push_back(test::gaussian_logits(s, vocab, 3.0));
  SamplerParams plain;
  SamplerParams top_p_only;
  top_p_only.top_p = 0.9f;
  SamplerParams greedy;
  greedy.greedy = true;
  greedy.repetition_penalty = 1.3f;
  {
    const long before = g_allocations.load();
    const std::vector<int> probe(16);
    ASSERT_GT(g_allocations.load(), before) << "the allocation counter is not live";
  }
  for (const SamplerParams& params : {plain, top_p_only, greedy, full_params(1)}) {
    Sampler sampler(params, vocab);
    const long before = g_allocations.load();
    for (int step = 0; step < 200; ++step) {
      const int32_t token = sampler.sample(logits[static_cast<size_t>(step) % logits.size()]);
      sampler.accept(token);
      (void)sampler.last_logprob();
    }
    EXPECT_EQ(g_allocations.load() - before, 0) << "allocations during sampling";
  }
}

TEST(Sampler, RejectsBadSizesAndLogits) {
  GENARM_EXPECT_ERROR(Sampler(SamplerParams{}, 0), ErrorCategory::kInvalidArgument, "vocab_size");
  Sampler sampler(SamplerParams{}, 4);
  GENARM_EXPECT_ERROR(sampler.sample(std::vector<float>{1, 2, 3}), ErrorCategory::kInvalidArgument,
                      "got 3 logits", "vocabulary of 4");
  GENARM_EXPECT_ERROR(sampler.sample(std::vector<float>(4, -kInf)), ErrorCategory::kInvalidArgument,
                      "no token has finite logit");
  GENARM_EXPECT_ERROR(sampler.last_logprob(), ErrorCategory::kInvalidArgument, "no token sampled");
}

TEST(Sampler, BanningAllButOneTokenForcesIt) {
  SamplerParams p;
  p.logit_bias = {{0, -kInf}, {1, -kInf}, {3, -kInf}};
  Sampler sampler(p, 4);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(sampler.sample(std::vector<float>{5, 5, -9, 5}), 2);
  EXPECT_NEAR(sampler.last_logprob(), 0.0, 1e-12);
  p.logit_bias.push_back({2, -kInf});
  Sampler none(p, 4);
  GENARM_EXPECT_ERROR(none.sample(std::vector<float>{5, 5, -9, 5}), ErrorCategory::kInvalidArgument,
                      "no token has finite logit");
}

TEST(Sampler, GreedyWithRepetitionPenaltyMovesOnAndResetForgets) {
  SamplerParams p;
  p.temperature = 0;
  p.repetition_penalty = 10.0f;
  const std::vector<float> logits{3.0f, 2.0f, 1.0f};
  Sampler sampler(p, 3);
  std::vector<int32_t> tokens;
  for (int i = 0; i < 3; ++i) {
    tokens.push_back(sampler.sample(logits));
    sampler.accept(tokens.back());
  }
  EXPECT_EQ(tokens, (std::vector<int32_t>{0, 1, 2}));  // each repeat is divided by 10
  sampler.reset();
  EXPECT_EQ(sampler.sample(logits), 0);
}

TEST(Sampler, PromptTokensCountForPenalties) {
  SamplerParams p;
  p.greedy = true;
  p.repetition_penalty = 10.0f;
  Sampler sampler(p, 3);
  sampler.accept(0);  // prompt token
  EXPECT_EQ(sampler.sample(std::vector<float>{3.0f, 2.0f, 1.0f}), 1);
}

TEST(Sampler, LastLogprobIsUnderTheProcessedDistribution) {
  const std::vector<float> logits = test::gaussian_logits(8, 500, 2.0);
  for (const bool greedy : {false, true}) {
    SamplerParams p;
    p.greedy = greedy;
    p.temperature = 0.7f;
    p.top_k = 20;
    Sampler sampler(p, logits.size());
    const int32_t token = sampler.sample(logits);
    std::vector<double> dense;
    sampler.last_candidates().dense_probabilities(logits.size(), dense);
    if (greedy) {
      // Greedy skips temperature and filters: the distribution is softmax(logits) itself.
      EXPECT_EQ(sampler.last_candidates().size(), logits.size());
    } else {
      EXPECT_EQ(sampler.last_candidates().size(), 20u);
    }
    EXPECT_NEAR(sampler.last_logprob(), std::log(dense[static_cast<size_t>(token)]), 1e-9);
  }
}

std::vector<int32_t> run(Sampler& s, const std::vector<std::vector<float>>& logits, int steps) {
  std::vector<int32_t> out;
  for (int i = 0; i < steps; ++i) {
    out.push_back(s.sample(logits[static_cast<size_t>(i) % logits.size()]));
    s.accept(out.back());
  }
  return out;
}

TEST(Sampler, FixedSeedReproducesDifferentSeedsDiffer) {
  std::vector<std::vector<float>> logits;
  for (uint64_t s = 0; s < 3; ++s) logits.push_back(test::gaussian_logits(100 + s, 1000, 1.5));
  Sampler a(full_params(42), 1000);
  Sampler b(full_params(42), 1000);
  Sampler c(full_params(43), 1000);
  const auto ta = run(a, logits, 64);
  EXPECT_EQ(ta, run(b, logits, 64));
  EXPECT_NE(ta, run(c, logits, 64));
}

TEST(Sampler, CloneForksWithTheSameStateAndIndependentFuture) {
  std::vector<std::vector<float>> logits;
  for (uint64_t s = 0; s < 3; ++s) logits.push_back(test::gaussian_logits(200 + s, 300, 1.5));
  Sampler original(full_params(5), 300);
  run(original, logits, 10);
  Sampler fork = original.clone();
  EXPECT_EQ(run(original, logits, 20), run(fork, logits, 20));

  // After diverging histories the penalties differ, but the original is unaffected by the fork.
  Sampler fork2 = original.clone();
  Sampler witness = original.clone();
  for (int i = 0; i < 5; ++i) fork2.accept(7);
  EXPECT_EQ(run(original, logits, 20), run(witness, logits, 20));
}

TEST(Sampler, ReseedRestartsTheStream) {
  std::vector<std::vector<float>> logits{test::gaussian_logits(1, 100, 1.0)};
  SamplerParams p;
  p.seed = 9;
  Sampler s(p, 100);
  const auto first = run(s, logits, 30);
  s.reseed(9);
  EXPECT_EQ(run(s, logits, 30), first);
  s.reseed(10);
  EXPECT_NE(run(s, logits, 30), first);
}

TEST(Sampler, ChainIsBuiltFromTheParameters) {
  Sampler s(full_params(1), 100);
  ASSERT_EQ(s.chain().size(), 9u);
  EXPECT_EQ(s.chain().at(0).name(), "logit_bias");
  EXPECT_EQ(s.chain().at(8).name(), "distribution");
  EXPECT_EQ(s.vocab_size(), 100u);
}

}  // namespace
}  // namespace genarm::sampling
