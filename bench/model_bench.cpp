// Prefill and decode speed of the transformer per weight type and thread count, the way
// llama-bench reports it — pp (a prompt of 128 tokens in one forward pass) and tg (128 generated
// tokens) in tokens/s — with the bytes of weights read per decoded token against this machine's
// read bandwidth, measured in the same process (batch-1 decoding reads every weight once).
//   genarm_model_bench [--quick] [--models toy,91m,gpt2,qwen05b] [--types f32,bf16,f16,q8_0,q4_0]
//                      [--threads 1,2]
// Models (random weights, Hugging Face layout): the bundled toy base; a 91M F32 Llama (the shape of
// PERFORMANCE.md's llama2.c comparison); GPT-2 small (124M); a model shaped like Qwen2.5-0.5B
// (hidden 896, 24 layers, 14 heads, 2 KV heads, intermediate 4864, vocabulary 151936, tied
// embeddings). Each float checkpoint is written once as F32 and loaded in every requested type
// (LoadOptions::weights: quantised types keep the head at Q8_0 and the embedding as stored).
// tg = 128 / (time(20 + 128 tokens) - time(20 tokens)): start-up and the first steps cancel;
// the median of interleaved runs (a best-of on each side separately pairs lucky with unlucky).
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

constexpr int kPrompt = 128, kGenerated = 128, kWarm = 20;

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

struct Figures {
  double pp, tg;
};

Figures measure(const Transformer& m, size_t threads, int reps) {
  ThreadPool pool(threads);
  std::vector<int32_t> prompt(kPrompt);
  for (int i = 0; i < kPrompt; ++i) prompt[i] = static_cast<int32_t>((i * 31 + 7) % m.vocab_size());
  const double prefill = best_of(reps, [&] {
    auto s = m.new_sequence(kPrompt);
    s.set_thread_pool(&pool);
    m.forward(s, prompt);
  });
  std::vector<double> differences;
  for (int r = 0; r < 2 * reps - 1; ++r) {
    const double t_short = decode_seconds(m, pool, kWarm);
    differences.push_back(decode_seconds(m, pool, kWarm + kGenerated) - t_short);
  }
  std::nth_element(differences.begin(), differences.begin() + (reps - 1), differences.end());
  return {kPrompt / prefill, kGenerated / differences[static_cast<size_t>(reps - 1)]};
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  for (size_t b = 0; b <= s.size();) {
    const size_t e = std::min(s.find(',', b), s.size());
    if (e > b) out.push_back(s.substr(b, e - b));
    b = e + 1;
  }
  return out;
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
nlohmann::json qwen_05b() {
  return {{"architectures", {"Qwen2ForCausalLM"}}, {"model_type", "qwen2"}, {"vocab_size", 151936},
          {"hidden_size", 896}, {"num_hidden_layers", 24}, {"num_attention_heads", 14},
          {"num_key_value_heads", 2}, {"intermediate_size", 4864}, {"max_position_embeddings", 4096},
          {"rms_norm_eps", 1e-6}, {"tie_word_embeddings", true}, {"rope_theta", 1000000.0}};
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::vector<std::string> model_names{"toy", "91m", "gpt2", "qwen05b"}, type_names{"f32", "bf16", "q8_0", "q4_0"};
  std::vector<size_t> thread_counts{1, 2};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      quick = true;
    } else if (a == "--models" && i + 1 < argc) {
      model_names = split(argv[++i]);
    } else if (a == "--types" && i + 1 < argc) {
      type_names = split(argv[++i]);
    } else if (a == "--threads" && i + 1 < argc) {
      thread_counts.clear();
      for (const auto& t : split(argv[++i])) thread_counts.push_back(std::stoul(t));
    } else {
      std::fprintf(stderr, "usage: genarm_model_bench [--quick] [--models toy,91m,gpt2,qwen05b] "
                           "[--types f32,bf16,f16,q8_0,q4_0] [--threads 1,2]\n");
      return 2;
    }
  }
  if (quick) model_names.erase(std::remove(model_names.begin(), model_names.end(), "qwen05b"), model_names.end());
  std::vector<std::optional<genarm::model::WeightType>> types;
  for (const auto& t : type_names) types.push_back(genarm::model::parse_weight_choice(t));

  ThreadPool one(1), two(2);
  const double bw1 = genarm::bench::read_bandwidth_gbs(size_t{1} << 30, one);
  const double bw2 = genarm::bench::read_bandwidth_gbs(size_t{1} << 30, two);
  std::printf("read bandwidth (sum over 1 GiB on huge pages, best of 5): %.1f GB/s with 1 thread, %.1f GB/s with 2\n\n", bw1, bw2);
  std::printf("%-14s %-6s %7s %10s %10s %12s %10s %8s\n", "model", "type", "threads", "pp128 t/s", "tg128 t/s",
              "MB/token", "GB/s", "% of bw");

  const auto tmp = std::filesystem::temp_directory_path() / ("genarm-bench-" + std::to_string(::getpid()));
  for (const auto& name : model_names) {
    std::filesystem::path dir;
    if (name == "toy") {
      dir = std::filesystem::path(GENARM_SOURCE_DIR) / "models" / "toy-base";
    } else {
      const nlohmann::json config = name == "91m" ? llama_91m() : name == "gpt2" ? gpt2_small() : name == "qwen05b" ? qwen_05b()
                                                                                                             : nlohmann::json();
      if (config.is_null()) {
        std::fprintf(stderr, "genarm_model_bench: unknown model '%s' (toy, 91m, gpt2, qwen05b)\n", name.c_str());
        return 2;
      }
      dir = tmp / name;
      genarm::model::write_synthetic_model(dir, config);
    }
    for (size_t ti = 0; ti < types.size(); ++ti) {
      const Transformer m = Transformer::load(dir, {.weights = types[ti], .pool = &two});
      const double mb = static_cast<double>(m.weights().weight_bytes) / 1e6;
      for (size_t threads : thread_counts) {
        const int reps = quick || name == "qwen05b" ? 1 : 3;
        const Figures f = measure(m, threads, reps);
        const double gbs = f.tg * mb / 1e3;
        std::printf("%-14s %-6s %7zu %10.1f %10.1f %12.1f %10.2f %7.0f%%\n", name.c_str(), type_names[ti].c_str(), threads,
                    f.pp, f.tg, mb, gbs, 100.0 * gbs / (threads == 1 ? bw1 : bw2));
        std::fflush(stdout);
      }
    }
    if (name != "toy") std::filesystem::remove_all(dir);
  }
  std::filesystem::remove_all(tmp);
  return 0;
}
