// Aggregate decode speed against batch size: B sequences stepped together by the BatchGenerator
// (one pass over each model's weights per step for all B), base alone and GenARM with one ARM.
//   genarm_batch_bench [--quick] [--threads 1,2] [--batches 1,2,4,8,16,32]
// Families: the bundled toy family (toy-base guided by toy-arm-positive) and a synthetic 91M F32
// Llama (PERFORMANCE.md's reference shape, vocabulary 4096 with the toy tokenizer) guided by
// toy-arm-positive — a small ARM steering a larger base, as GenARM is used.
// Decode tokens/s = B * (long - short) / (time(long) - time(short)): prefill and start-up cancel.
// Every figure's baseline (B = 1, same family, method and thread count) runs in the same process.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

#include "bench_util.hpp"
#include "genarm/generate/batch_generator.hpp"
#include "genarm/guidance/guided_model.hpp"
#include "genarm/model/synthetic.hpp"

namespace {

using genarm::bench::now_seconds;
using genarm::GuidedModel;

std::vector<size_t> parse_list(const char* text) {
  std::vector<size_t> out;
  for (const char* p = text; *p;) {
    char* end = nullptr;
    const unsigned long v = std::strtoul(p, &end, 10);
    if (end == p || v == 0) {
      std::fprintf(stderr, "genarm_batch_bench: expected a comma-separated list of positive integers, got '%s'\n", text);
      std::exit(2);
    }
    out.push_back(v);
    p = *end == ',' ? end + 1 : end;
  }
  return out;
}

// Seconds to decode `tokens` new tokens for each of `batch` sequences (different short prompts,
// different seeds) run together.
double run_seconds(const GuidedModel& family, bool guided, size_t batch, int tokens, genarm::ThreadPool& pool) {
  genarm::BatchGenerator engine(family, {.max_batch = batch}, &pool);
  for (size_t i = 0; i < batch; ++i) {
    genarm::BatchRequest request;
    request.prompts.base = {static_cast<int32_t>(5 + i % 50), static_cast<int32_t>(100 + i), 7, 9};
    if (guided) {
      request.arms = {0};
      request.guidance = {{1.0f}, 1.0f};
    }
    request.sampler.seed = 1 + i;
    request.config.max_new_tokens = tokens;
    request.config.ignore_eos = true;
    request.config.details = false;
    request.on_done = [](uint64_t, int, genarm::GenerationResult) {};
    engine.submit(std::move(request));
  }
  const double t0 = now_seconds();
  engine.run();
  return now_seconds() - t0;
}

double decode_tps(const GuidedModel& family, bool guided, size_t batch, genarm::ThreadPool& pool, bool quick) {
  const int short_n = 8, long_n = quick ? 24 : 56;
  double best_short = 1e300, best_long = 1e300;
  for (int r = 0; r < (quick ? 1 : 2); ++r) {
    best_short = std::min(best_short, run_seconds(family, guided, batch, short_n, pool));
    best_long = std::min(best_long, run_seconds(family, guided, batch, long_n, pool));
  }
  return static_cast<double>(batch) * (long_n - short_n) / (best_long - best_short);
}

GuidedModel::Part part(const std::filesystem::path& dir, const std::filesystem::path& tokenizer_dir) {
  return {dir.string(), genarm::Tokenizer::from_file(tokenizer_dir), genarm::model::Transformer::load(dir)};
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::vector<size_t> threads{1, 2}, batches{1, 2, 4, 8, 16, 32};
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      threads = parse_list(argv[++i]);
    } else if (std::strcmp(argv[i], "--batches") == 0 && i + 1 < argc) {
      batches = parse_list(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: genarm_batch_bench [--quick] [--threads 1,2] [--batches 1,2,4,8,16,32]\n");
      return 2;
    }
  }
  const std::filesystem::path models = std::filesystem::path(GENARM_SOURCE_DIR) / "models";
  const auto tmp = std::filesystem::temp_directory_path() / ("genarm-bbench-" + std::to_string(::getpid()));
  genarm::model::write_synthetic_model(
      tmp / "llama91m",
      {{"architectures", {"LlamaForCausalLM"}}, {"vocab_size", 4096}, {"hidden_size", 768}, {"num_hidden_layers", 12},
       {"num_attention_heads", 12}, {"num_key_value_heads", 12}, {"intermediate_size", 2048},
       {"max_position_embeddings", 1024}, {"rms_norm_eps", 1e-5}, {"rope_theta", 10000.0}});

  struct Family {
    std::string name;
    GuidedModel model;
  };
  std::vector<Family> families;
  families.push_back({"toy-base (3.2M BF16) + toy-arm-positive",
                      GuidedModel::load(models / "toy-base", {models / "toy-arm-positive"})});
  families.push_back({"llama 91M F32 + toy-arm-positive",
                      GuidedModel::assemble(part(tmp / "llama91m", models / "toy-base"),
                                            {part(models / "toy-arm-positive", models / "toy-arm-positive")})});

  std::printf("Aggregate decode tokens/s (all sequences together) against batch size\n");
  const std::string against = "x B=" + std::to_string(batches.front());
  std::printf("%-42s %-10s %7s %6s %12s %8s\n", "family", "method", "threads", "B", "tokens/s", against.c_str());
  for (const auto& f : families) {
    for (bool guided : {false, true}) {
      for (size_t t : threads) {
        genarm::ThreadPool pool(t);
        double baseline = 0.0;
        for (size_t b : batches) {
          const double tps = decode_tps(f.model, guided, b, pool, quick);
          if (baseline == 0.0) baseline = tps;
          std::printf("%-42s %-10s %7zu %6zu %12.1f %7.2fx\n", f.name.c_str(), guided ? "GenARM" : "base", t, b, tps,
                      tps / baseline);
          std::fflush(stdout);
        }
      }
    }
  }
  std::filesystem::remove_all(tmp);
  return 0;
}
