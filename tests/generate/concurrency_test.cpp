// One loaded model shared by several threads, each generating with its own policy, sampler and
// (optionally) thread pool, gives exactly the results of running the same work one after another.
// Run under ThreadSanitizer by scripts/quickstart.sh test.
#include <thread>

#include "genarm/generate/best_of_n.hpp"
#include "genarm/generate/generator.hpp"
#include "genarm/guidance/args_policy.hpp"
#include "genarm/guidance/guided_model.hpp"
#include "genarm/guidance/trajectory_reward.hpp"
#include "test_support.hpp"

namespace genarm {
namespace {

using testing::hf_dir;

struct Job {
  std::vector<int32_t> prompt;
  uint64_t seed;
  int method;  // 0 GenARM, 1 base only, 2 ARGS, 3 best-of-3
  bool own_pool;
};

std::vector<int32_t> run_job(const GuidedModel& model, const model::Transformer& rm, const Job& job) {
  std::unique_ptr<ThreadPool> pool;
  if (job.own_pool) pool = std::make_unique<ThreadPool>(2);
  sampling::SamplerParams params;
  params.seed = job.seed;
  params.top_p = 0.95f;
  sampling::Sampler sampler(params, model.vocab_size());
  GenerationConfig config;
  config.max_new_tokens = 24;
  config.ignore_eos = true;
  const Prompts prompts{job.prompt, {}};
  switch (job.method) {
    case 0: {
      auto policy = model.new_policy(Guidance{{0.7f, 0.3f}, 0.5f}, pool.get());
      return generate(policy, sampler, model.tokenizer(), prompts, config).ids;
    }
    case 1: {
      auto policy = model.new_policy(Guidance{{0.0f, 0.0f}, 1.0f}, pool.get());
      return generate(policy, sampler, model.tokenizer(), prompts, config).ids;
    }
    case 2: {
      TransformerSource base(model.base());
      base.set_thread_pool(pool.get());
      ArgsPolicy<TransformerSource> policy(std::move(base), rm, model.vocab_size(), ArgsParams{4, 1.0f});
      policy.set_thread_pool(pool.get());
      return generate(policy, sampler, model.tokenizer(), prompts, config).ids;
    }
    default: {
      auto policy = model.new_policy(Guidance{{0.0f, 0.0f}, 1.0f}, pool.get());
      TrajectoryReward judge(rm);
      return best_of_n(policy, sampler, model.tokenizer(), prompts, config, 3, job.seed,
                       [&](const Prompts& p, const GenerationResult& r) { return judge(p.base, r.ids); })
          .best.ids;
    }
  }
}

TEST(Concurrency, SharedModelGivesTheSameResultsAsSequentialRuns) {
  const auto model = GuidedModel::load(hf_dir() / "models" / "llama-tiny",
                                       {hf_dir() / "models" / "llama-tiny-arm", hf_dir() / "models" / "llama-tiny-arm2"});
  const auto rm = model::Transformer::load(hf_dir() / "models" / "llama-rm-tiny");
  std::vector<Job> jobs;
  for (int i = 0; i < 8; ++i) {
    jobs.push_back(Job{model.tokenizer().encode("Prompt number " + std::to_string(i)), static_cast<uint64_t>(i), i % 4,
                       i % 3 == 0});
  }
  std::vector<std::vector<int32_t>> sequential;
  for (const auto& j : jobs) sequential.push_back(run_job(model, rm, j));

  std::vector<std::vector<int32_t>> parallel(jobs.size());
  std::vector<std::thread> threads;
  for (size_t t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = t; i < jobs.size(); i += 4) parallel[i] = run_job(model, rm, jobs[i]);
    });
  }
  for (auto& th : threads) th.join();
  for (size_t i = 0; i < jobs.size(); ++i) {
    EXPECT_EQ(parallel[i], sequential[i]) << "job " << i << " (method " << jobs[i].method << ")";
    EXPECT_EQ(parallel[i].size(), 24u);
  }
}

TEST(Concurrency, TokenizerIsSharedAcrossThreads) {
  const auto tokenizer = Tokenizer::from_file(hf_dir() / "tokenizers" / "gpt2");
  const std::vector<std::string> texts{"Hello world", "caf\xc3\xa9 na\xc3\xafve", "  indented\n\tcode();", "numbers 12345"};
  std::vector<std::vector<int32_t>> want;
  for (const auto& t : texts) want.push_back(tokenizer.encode(t));
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int rep = 0; rep < 50; ++rep) {
        for (size_t i = 0; i < texts.size(); ++i) {
          if (tokenizer.encode(texts[i]) != want[i] || tokenizer.decode(want[i]) != texts[i]) ++mismatches;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace genarm
