// Vocabularies that differ by padding: an ARM with one more token ("[PAD]", added for training,
// with an extra embedding and lm_head row: 1025 rows against the base's 1024) decodes exactly —
// tokens, text, per-token log-probs, top log-probs, bit for bit — as the same ARM without it,
// through GuidedModel + generate() and through BatchGenerator, greedy and sampled: its extra logit
// is cut away before the log-softmax, as the GenARM authors' code does.
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "genarm/core/math.hpp"
#include "genarm/generate/batch_generator.hpp"
#include "genarm/generate/generator.hpp"
#include "genarm/guidance/guided_model.hpp"
#include "test_support.hpp"

namespace genarm {
namespace {

using testing::fixtures_dir;
using testing::hf_dir;

GuidedModel plain_family() {
  return GuidedModel::load(hf_dir() / "models" / "llama-tiny",
                           {hf_dir() / "models" / "llama-tiny-arm", hf_dir() / "models" / "llama-tiny-arm2"});
}
GuidedModel padded_family() {
  return GuidedModel::load(hf_dir() / "models" / "llama-tiny", {fixtures_dir() / "padded" / "llama-tiny-arm-padded",
                                                                 hf_dir() / "models" / "llama-tiny-arm2"});
}

::testing::AssertionResult identical_results(const GenerationResult& got, const GenerationResult& want) {
  if (got.ids != want.ids) return ::testing::AssertionFailure() << "different tokens";
  if (got.text != want.text) return ::testing::AssertionFailure() << "text '" << got.text << "' vs '" << want.text << "'";
  if (got.stop_reason != want.stop_reason) return ::testing::AssertionFailure() << "different stop reasons";
  if (got.details.size() != want.details.size() ||
      std::memcmp(got.details.data(), want.details.data(), got.details.size() * sizeof(TokenDetail)) != 0) {
    return ::testing::AssertionFailure() << "different per-token log-probs";
  }
  if (got.guide_logprobs != want.guide_logprobs) return ::testing::AssertionFailure() << "different ARM log-probs";
  if (got.top_logprobs.size() != want.top_logprobs.size()) return ::testing::AssertionFailure() << "different top counts";
  for (size_t i = 0; i < got.top_logprobs.size(); ++i) {
    if (got.top_logprobs[i].id != want.top_logprobs[i].id || got.top_logprobs[i].logprob != want.top_logprobs[i].logprob) {
      return ::testing::AssertionFailure() << "different top log-probs at " << i;
    }
  }
  return ::testing::AssertionSuccess() << got.ids.size() << " tokens";
}

struct Case {
  const char* name;
  std::vector<size_t> arms;
  Guidance guidance;
  sampling::SamplerParams sampler;
};

std::vector<Case> cases() {
  std::vector<Case> out;
  sampling::SamplerParams greedy;
  greedy.greedy = true;
  sampling::SamplerParams sampled;
  sampled.seed = 7;
  sampling::SamplerParams filtered;
  filtered.seed = 11;
  filtered.temperature = 0.8f;
  filtered.top_p = 0.9f;
  filtered.top_k = 40;
  out.push_back({"greedy, beta 1", {0}, Guidance{{}, 1.0f}, greedy});
  out.push_back({"greedy, beta 0.25", {0}, Guidance{{}, 0.25f}, greedy});
  out.push_back({"sampled, beta 0.5", {0}, Guidance{{}, 0.5f}, sampled});
  out.push_back({"sampled, top-p, two ARMs", {0, 1}, Guidance{{0.7f, 0.3f}, 0.5f}, filtered});
  out.push_back({"sampled, the padded ARM second", {1, 0}, Guidance{{0.4f, 0.6f}, 1.0f}, sampled});
  return out;
}

GuidedPolicy<TransformerSource> policy_of(const GuidedModel& m, const Case& c) {
  std::vector<TransformerSource> guides;
  for (size_t a : c.arms) guides.emplace_back(m.arms()[a]);
  return GuidedPolicy<TransformerSource>(TransformerSource(m.base()), std::move(guides), m.vocab_size(), c.guidance);
}

GenerationResult generate_case(const GuidedModel& m, const Case& c, const Prompts& prompts) {
  auto policy = policy_of(m, c);
  sampling::Sampler sampler(c.sampler, m.vocab_size());
  GenerationConfig config;
  config.max_new_tokens = 24;
  config.eos_token_ids = m.eos_token_ids();
  config.top_logprobs = 5;
  return generate(policy, sampler, m.tokenizer(), prompts, config);
}

TEST(PaddedVocabulary, TheExtraRowCarriesMassThatDecodingCutsAway) {
  const auto padded = padded_family();
  EXPECT_EQ(padded.vocab_size(), 1024u);
  EXPECT_EQ(padded.arms()[0].vocab_size(), 1025);
  TransformerSource arm(padded.arms()[0]);
  arm.prefill(padded.tokenizer().encode("The weather today"));
  const auto logits = arm.logits();
  ASSERT_EQ(logits.size(), 1025u);
  // Left in, [PAD] would take a visible share of the ARM's distribution (the fixture makes its
  // lm_head row wide), so an uncut path could not give the plain ARM's numbers.
  const double pad_mass = std::exp(static_cast<double>(logits[1024]) - log_sum_exp(logits));
  EXPECT_GT(pad_mass, 1e-3);
}

TEST(PaddedVocabulary, GenerateDecodesExactlyAsTheArmWithoutPadding) {
  const auto plain = plain_family();
  const auto padded = padded_family();
  ASSERT_EQ(padded.compatibility_notes().size(), 1u);
  for (const char* text : {"The weather today", "Once upon a time", "A"}) {
    const Prompts prompts{plain.tokenizer().encode(text), {}};
    for (const Case& c : cases()) {
      const auto want = generate_case(plain, c, prompts);
      EXPECT_TRUE(identical_results(generate_case(padded, c, prompts), want)) << c.name << ", prompt '" << text << "'";
    }
  }
}

TEST(PaddedVocabulary, DecodingLogitsAreBitIdenticalStepByStep) {
  const auto plain = plain_family();
  const auto padded = padded_family();
  for (const Case& c : cases()) {
    auto a = policy_of(plain, c);
    auto b = policy_of(padded, c);
    const auto prompt = plain.tokenizer().encode("In the valley there was");
    a.start(prompt);
    b.start(prompt);
    for (int step = 0; step < 12; ++step) {
      const auto za = a.next_logits();
      const auto zb = b.next_logits();
      ASSERT_EQ(za.size(), zb.size());
      ASSERT_EQ(std::memcmp(za.data(), zb.data(), za.size() * sizeof(float)), 0) << c.name << ", step " << step;
      for (size_t g = 0; g < c.arms.size(); ++g) {
        ASSERT_EQ(a.component_logprob(1 + g, 5), b.component_logprob(1 + g, 5)) << c.name << ", step " << step;
      }
      const auto next = static_cast<int32_t>(std::max_element(za.begin(), za.end()) - za.begin());
      a.advance(next);
      b.advance(next);
    }
  }
}

TEST(PaddedVocabulary, BatchGeneratorDecodesExactlyAsTheArmWithoutPadding) {
  const auto plain = plain_family();
  const auto padded = padded_family();
  const char* texts[] = {"The weather today", "Once", "We went to the market", "Dear friend,"};
  std::vector<BatchRequest> requests;
  std::vector<GenerationResult> want;
  size_t i = 0;
  for (const Case& c : cases()) {
    for (const char* text : texts) {
      BatchRequest r;
      r.prompts.base = plain.tokenizer().encode(text);
      r.arms = c.arms;
      r.guidance = c.guidance;
      r.sampler = c.sampler;
      r.sampler.seed += i++;
      r.config.max_new_tokens = 16;
      r.config.top_logprobs = 3;
      requests.push_back(r);
      auto policy = policy_of(plain, c);
      sampling::Sampler sampler(r.sampler, plain.vocab_size());
      GenerationConfig config = r.config;
      config.eos_token_ids = plain.eos_token_ids();
      want.push_back(generate(policy, sampler, plain.tokenizer(), r.prompts, config));
    }
  }
  ThreadPool two(2);
  for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &two}) {
    BatchGenerator engine(padded, {6, 5}, pool);
    std::map<uint64_t, GenerationResult> done;
    std::vector<uint64_t> ids;
    for (auto r : requests) {
      r.on_done = [&done](uint64_t id, int, GenerationResult result) { done[id] = std::move(result); };
      ids.push_back(engine.submit(std::move(r)));
    }
    engine.run();
    ASSERT_EQ(done.size(), requests.size());
    for (size_t k = 0; k < requests.size(); ++k) {
      EXPECT_TRUE(identical_results(done.at(ids[k]), want[k])) << "request " << k << (pool ? ", 2 threads" : "");
    }
  }
}

}  // namespace
}  // namespace genarm
