// Prefill and decode speed of the transformer, against this machine's memory bandwidth (the limit
// of batch-1 decoding: every weight is read once per token).
//   genarm_model_bench [--quick] [--threads 1,2]
// Models: the bundled toy base (BF16), a synthetic 91M-parameter F32 Llama (the shape of
// PERFORMANCE.md's llama2.c comparison) and its BF16 copy, and a synthetic GPT-2-small (124M, F32).
// Decode is measured as (200 - 20) tokens / (time(200) - time(20)) so that start-up cancels.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

#include "bench_util.hpp"
#include "genarm/model/synthetic.hpp"
#include "genarm/model/transformer.hpp"

namespace {

using genarm::ThreadPool;
using genarm::bench::best_of;
using genarm::bench::now_seconds;
using genarm::model::Transformer;

struct Row {
  std::string model;
  size_t threads;
  double prefill_tps, decode_tps, gbs;
};

double decode_seconds(const Transformer& m, ThreadPool& pool, int tokens) {
  auto s = m.new_sequence(tokens + 1);
  s.set_thread_pool(&pool);
  const double t0 = now_seconds();
  int32_t next = 1;
  for (int i = 0; i < tokens; ++i) {
    m.forward(s, next);
    next = static_cast<int32_t>((next * 7919 + 13) % m.vocab_size());
  }
  return now_seconds() - t0;
}

Row measure(const std::string& label, const Transformer& m, size_t threads, bool quick) {
  ThreadPool pool(threads);
  const int prompt_len = 128;
  std::vector<int32_t> prompt(prompt_len);
  for (int i = 0; i < prompt_len; ++i) prompt[i] = static_cast<int32_t>((i * 31 + 7) % m.vocab_size());
  const int reps = quick ? 1 : 3;
  const double prefill = best_of(reps, [&] {
    auto s = m.new_sequence(prompt_len);
    s.set_thread_pool(&pool);
    m.forward(s, prompt);
  });
  const int short_n = 20, long_n = quick ? 80 : 200;
  // Short and long runs interleaved, the median of their differences: a best-of on each side
  // separately can pair a lucky long run with an unlucky short one.
  std::vector<double> differences;
  for (int r = 0; r < 2 * reps + 1; ++r) {
    const double t_short = decode_seconds(m, pool, short_n);
    differences.push_back(decode_seconds(m, pool, long_n) - t_short);
  }
  std::nth_element(differences.begin(), differences.begin() + reps, differences.end());
  const double decode_tps = (long_n - short_n) / differences[static_cast<size_t>(reps)];
  const double gbs = decode_tps * static_cast<double>(m.weights().weight_bytes) / 1e9;
  return {label, threads, prompt_len / prefill, decode_tps, gbs};
}

nlohmann::json llama_91m() {
  return {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"vocab_size", 4096},
          {"hidden_size", 768}, {"num_hidden_layers", 12}, {"num_attention_heads", 12},
          {"num_key_value_heads", 12}, {"intermediate_size", 2048}, {"max_position_embeddings", 1024},
          {"rms_norm_eps", 1e-5}, {"tie_word_embeddings", false}, {"rope_theta", 10000.0}};
}
nlohmann::json gpt2_small() {
  return {{"architectures", {"GPT2LMHeadModel"}}, {"model_type", "gpt2"}, {"vocab_size", 50257},
          {"n_embd", 768}, {"n_layer", 12}, {"n_head", 12}, {"n_positions", 1024},
          {"activation_function", "gelu_new"}, {"layer_norm_epsilon", 1e-5}};
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  for (int i = 1; i < argc; ++i) quick |= std::strcmp(argv[i], "--quick") == 0;
  const auto tmp = std::filesystem::temp_directory_path() / ("genarm-bench-" + std::to_string(::getpid()));
  std::vector<std::pair<std::string, Transformer>> models;
  models.emplace_back("toy-base (3.2M, BF16)", Transformer::load(std::filesystem::path(GENARM_SOURCE_DIR) / "models" / "toy-base"));
  genarm::model::write_synthetic_model(tmp / "llama91m", llama_91m());
  models.emplace_back("llama 91M F32", Transformer::load(tmp / "llama91m"));
  genarm::model::write_synthetic_model(tmp / "llama91m-bf16", llama_91m(), {.seed = 1, .dtype = genarm::DType::kBF16});
  models.emplace_back("llama 91M BF16", Transformer::load(tmp / "llama91m-bf16"));
  if (!quick) {
    genarm::model::write_synthetic_model(tmp / "gpt2-124m", gpt2_small());
    models.emplace_back("gpt2 124M F32", Transformer::load(tmp / "gpt2-124m"));
  }

  ThreadPool one(1), two(2);
  const double bw1 = genarm::bench::read_bandwidth_gbs(size_t{1} << 30, one);
  const double bw2 = genarm::bench::read_bandwidth_gbs(size_t{1} << 30, two);
  std::printf("read bandwidth (sum over 1 GiB on huge pages, best of 5): %.1f GB/s with 1 thread, %.1f GB/s with 2\n\n", bw1, bw2);
  std::printf("%-24s %7s %12s %12s %14s %10s\n", "model", "threads", "prefill t/s", "decode t/s", "decode GB/s", "% of bw");
  for (const auto& [label, m] : models) {
    for (size_t threads : {size_t{1}, size_t{2}}) {
      const Row r = measure(label, m, threads, quick);
      const double bw = threads == 1 ? bw1 : bw2;
      std::printf("%-24s %7zu %12.1f %12.1f %14.2f %9.0f%%\n", r.model.c_str(), r.threads, r.prefill_tps,
                  r.decode_tps, r.gbs, 100.0 * r.gbs / bw);
      std::fflush(stdout);
    }
  }
  std::filesystem::remove_all(tmp);
  return 0;
}
