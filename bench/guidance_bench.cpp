// The cost of GenARM's own step — combining the models' log-probabilities and sampling — against
// the vocabulary size, next to the cost of a forward pass; and GenARM's decoding speed against the
// base alone on the toy family, with the ARM's forward measured separately so that what GenARM
// adds beyond it is visible.
//   genarm_guidance_bench [--quick]
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <unistd.h>
#include <vector>

#include "bench_util.hpp"
#include "genarm/generate/generator.hpp"
#include "genarm/guidance/combination.hpp"
#include "genarm/guidance/guided_model.hpp"
#include "genarm/model/synthetic.hpp"
#include "genarm/sampling/sampler.hpp"

namespace {

using genarm::bench::best_of;
using genarm::bench::now_seconds;

std::vector<float> random_logits(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);  // benchmark data only; reproducibility across platforms is not needed here
  std::normal_distribution<float> d(0.0f, 3.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(gen);
  return v;
}

// Microseconds per combine + sample step for `arms` ARMs over a vocabulary of `vocab`.
double step_us(size_t vocab, size_t arms, bool filters, int steps) {
  std::vector<std::vector<float>> logits;
  for (size_t i = 0; i <= arms; ++i) logits.push_back(random_logits(vocab, static_cast<uint32_t>(i + 1)));
  std::vector<std::span<const float>> spans(logits.begin(), logits.end());
  std::vector<float> coefficients(arms + 1, 1.0f);
  std::vector<double> normalizers(arms + 1);
  genarm::Combination combination(vocab);
  genarm::sampling::SamplerParams params;
  if (filters) {
    params.temperature = 0.8f;
    params.top_k = 40;
    params.top_p = 0.95f;
  }
  genarm::sampling::Sampler sampler(params, vocab);
  const double seconds = best_of(5, [&] {
    for (int s = 0; s < steps; ++s) {
      const auto z = combination.combine(spans, coefficients, {}, normalizers);
      sampler.sample(z);
    }
  });
  return 1e6 * seconds / steps;
}

// Seconds per decode step of `model` (one token at a time, after a short prompt).
double forward_ms(const genarm::model::Transformer& model, int steps) {
  const double seconds = best_of(3, [&] {
    auto s = model.new_sequence(steps + 2);
    model.forward(s, std::vector<int32_t>{1, 2});
    for (int i = 0; i < steps; ++i) model.forward(s, static_cast<int32_t>(3 + i % 100));
  });
  return 1e3 * seconds / steps;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  for (int i = 1; i < argc; ++i) quick |= std::strcmp(argv[i], "--quick") == 0;
  const std::filesystem::path models = std::filesystem::path(GENARM_SOURCE_DIR) / "models";
  const auto base = genarm::model::Transformer::load(models / "toy-base");
  const auto arm = genarm::model::Transformer::load(models / "toy-arm-positive");
  const auto tmp = std::filesystem::temp_directory_path() / ("genarm-gbench-" + std::to_string(::getpid()));
  genarm::model::write_synthetic_model(
      tmp / "llama91m",
      {{"architectures", {"LlamaForCausalLM"}}, {"vocab_size", 4096}, {"hidden_size", 768}, {"num_hidden_layers", 12},
       {"num_attention_heads", 12}, {"num_key_value_heads", 12}, {"intermediate_size", 2048},
       {"max_position_embeddings", 1024}, {"rms_norm_eps", 1e-5}, {"rope_theta", 10000.0}});
  const auto big = genarm::model::Transformer::load(tmp / "llama91m");
  const int steps = quick ? 20 : 100;
  const double base_ms = forward_ms(base, steps), arm_ms = forward_ms(arm, steps), big_ms = forward_ms(big, quick ? 5 : 20);

  std::printf("One GenARM step (combine the log-probs of the base and the ARMs, then sample), 1 thread:\n");
  std::printf("%10s %14s %14s %22s\n", "vocab", "1 ARM (us)", "2 ARMs (us)", "1 ARM + T/top-k/top-p");
  for (size_t vocab : {size_t{4096}, size_t{32768}, size_t{131072}}) {
    const int n = quick ? 50 : 300;
    std::printf("%10zu %14.1f %14.1f %22.1f\n", vocab, step_us(vocab, 1, false, n), step_us(vocab, 2, false, n),
                step_us(vocab, 1, true, n));
  }
  std::printf("\nForward passes for scale (one decode step, 1 thread): toy-base %.3f ms, toy-arm-positive %.3f ms,\n"
              "a 91M-parameter F32 Llama %.2f ms.\n",
              base_ms, arm_ms, big_ms);

  // GenARM vs the base alone, end to end on the toy family: the same loop over a base-only model
  // (no ARM loaded) and over the base with toy-arm-positive at weight 1, beta 1.
  genarm::GenerationConfig config;
  config.max_new_tokens = 64;
  config.ignore_eos = true;
  config.details = false;
  const auto tokens_per_second = [&](const genarm::GuidedModel& family, const genarm::Guidance& guidance) {
    auto policy = family.new_policy(guidance);
    genarm::sampling::Sampler sampler(genarm::sampling::SamplerParams{}, family.vocab_size());
    const genarm::Prompts prompts{family.tokenizer().encode("The weather today"), {}};
    double tokens = 0;
    const double seconds = best_of(3, [&] {
      tokens = 0;
      for (int r = 0; r < (quick ? 3 : 20); ++r) {
        tokens += static_cast<double>(genarm::generate(policy, sampler, family.tokenizer(), prompts, config).ids.size());
      }
    });
    return tokens / seconds;
  };
  const double base_tps = tokens_per_second(genarm::GuidedModel::load(models / "toy-base"), {});
  const double genarm_tps = tokens_per_second(
      genarm::GuidedModel::load(models / "toy-base", {models / "toy-arm-positive"}), genarm::Guidance{{1.0f}, 1.0f});
  const double expected_ms = base_ms + arm_ms;
  std::printf("\nDecoding on the toy family (64 tokens, sampling, 1 thread):\n"
              "  base alone          %8.1f tokens/s (%.3f ms/token)\n"
              "  GenARM, 1 ARM       %8.1f tokens/s (%.3f ms/token; %.2fx the base's time)\n"
              "  base + ARM forwards, measured apart: %.3f ms -> GenARM's own step and loop add %.3f ms/token\n",
              base_tps, 1e3 / base_tps, genarm_tps, 1e3 / genarm_tps, base_tps / genarm_tps, expected_ms,
              1e3 / genarm_tps - expected_ms);
  std::filesystem::remove_all(tmp);
  return 0;
}
