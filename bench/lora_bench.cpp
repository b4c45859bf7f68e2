// GenARM at the cost of one model: the per-token decode time of the base alone, of GenARM with 1
// and 2 ARMs that are rank-8 LoRA adapters of the base on all seven projections (the batch engine
// steps the base's and the ARMs' rows in one pass over the shared weights), and of GenARM with a
// separate full ARM model of the same size — on a 91M-parameter F32 Llama (hidden 768, 12 layers,
// intermediate 2048, vocabulary 4096: llama2.c's reference shape, as bench/model_bench.cpp) with
// random weights, 1 thread, all measured in this process.
//   genarm_lora_bench [--quick]
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "bench_util.hpp"
#include "genarm/generate/batch_generator.hpp"
#include "genarm/guidance/guided_model.hpp"
#include "genarm/io/safetensors_writer.hpp"
#include "genarm/model/synthetic.hpp"

namespace {

namespace fs = std::filesystem;
using genarm::bench::now_seconds;

// A rank-r adapter of `base` on all seven projections (random factors), as PEFT saves it.
void write_adapter(const fs::path& dir, const genarm::io::ModelConfig& c, int64_t r, uint64_t seed) {
  fs::create_directories(dir);
  genarm::io::SafetensorsWriter w;
  genarm::model::detail::WeightNoise noise(seed);
  const int64_t h = c.hidden_size, qd = c.q_dim(), kv = c.kv_dim(), in = c.intermediate_size;
  const struct {
    const char* name;
    int64_t in, out;
  } modules[] = {{"self_attn.q_proj", h, qd}, {"self_attn.k_proj", h, kv}, {"self_attn.v_proj", h, kv},
                 {"self_attn.o_proj", qd, h}, {"mlp.gate_proj", h, in},    {"mlp.up_proj", h, in},
                 {"mlp.down_proj", in, h}};
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    for (const auto& m : modules) {
      const std::string p = "base_model.model.model.layers." + std::to_string(l) + "." + m.name;
      std::vector<float> a(static_cast<size_t>(r * m.in)), b(static_cast<size_t>(m.out * r));
      for (auto& v : a) v = noise.uniform(1.0f / std::sqrt(static_cast<float>(m.in)));
      for (auto& v : b) v = noise.uniform(0.1f);
      w.add(p + ".lora_A.weight", {r, m.in}, a);
      w.add(p + ".lora_B.weight", {m.out, r}, b);
    }
  }
  w.write(dir / "adapter_model.safetensors");
  std::ofstream(dir / "adapter_config.json")
      << R"({"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": )" << r << R"(, "lora_alpha": )" << 2 * r
      << R"(, "bias": "none", "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]})";
}

// Milliseconds per engine step (after the prefill step) of `sequences` greedy requests decoded
// together, each guided by the first `arms` ARMs.
double ms_per_step(const genarm::GuidedModel& m, size_t arms, size_t sequences, int tokens) {
  genarm::BatchGenerator engine(m, {sequences, 256}, nullptr);
  for (size_t i = 0; i < sequences; ++i) {
    genarm::BatchRequest r;
    r.prompts.base = {1, static_cast<int32_t>(17 + i), 300, 42};
    for (size_t a = 0; a < arms; ++a) r.arms.push_back(a);
    r.sampler.greedy = true;
    r.config.max_new_tokens = tokens + 1;
    r.config.ignore_eos = true;
    r.config.details = false;
    engine.submit(std::move(r));
  }
  engine.step();  // prefill and the first token
  const double t0 = now_seconds();
  int steps = 0;
  while (engine.step()) ++steps;
  return 1e3 * (now_seconds() - t0) / std::max(steps, 1);
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  for (int i = 1; i < argc; ++i) quick |= std::strcmp(argv[i], "--quick") == 0;
  const fs::path tmp = fs::temp_directory_path() / ("genarm-lora-bench-" + std::to_string(::getpid()));
  const nlohmann::json config = {{"architectures", {"LlamaForCausalLM"}}, {"vocab_size", 4096}, {"hidden_size", 768},
                                 {"num_hidden_layers", 12}, {"num_attention_heads", 12}, {"num_key_value_heads", 12},
                                 {"intermediate_size", 2048}, {"max_position_embeddings", 1024},
                                 {"rms_norm_eps", 1e-5}, {"rope_theta", 10000.0}, {"eos_token_id", 2}};
  genarm::model::write_synthetic_model(tmp / "base", config);
  genarm::model::SyntheticOptions other;
  other.seed = 2;
  genarm::model::write_synthetic_model(tmp / "full-arm", config, other);
  const genarm::io::ModelConfig c = genarm::io::read_model_config(tmp / "base");
  write_adapter(tmp / "lora1", c, 8, 11);
  write_adapter(tmp / "lora2", c, 8, 12);

  // The toy tokenizer (4096 ids, as batch_bench's 91M family): only the ids matter here.
  const genarm::Tokenizer tok = genarm::Tokenizer::from_file(fs::path(GENARM_SOURCE_DIR) / "models" / "toy-base");
  const auto base = genarm::model::Transformer::load(tmp / "base");
  const auto lora1 = genarm::model::Transformer::load_adapter(tmp / "lora1", base);
  const auto lora2 = genarm::model::Transformer::load_adapter(tmp / "lora2", base);
  const auto full = genarm::model::Transformer::load(tmp / "full-arm");
  using Part = genarm::GuidedModel::Part;
  const auto alone = genarm::GuidedModel::assemble(Part{"base", tok, base}, {});
  const auto one = genarm::GuidedModel::assemble(Part{"base", tok, base}, {Part{"lora1", tok, lora1}});
  const auto two =
      genarm::GuidedModel::assemble(Part{"base", tok, base}, {Part{"lora1", tok, lora1}, Part{"lora2", tok, lora2}});
  const auto separate = genarm::GuidedModel::assemble(Part{"base", tok, base}, {Part{"full-arm", tok, full}});

  const int tokens = quick ? 16 : 64, repeats = quick ? 2 : 3;
  // Interleaved rounds so that drift in the machine's speed affects every configuration alike.
  double t_alone = 1e300, t_one = 1e300, t_two = 1e300, t_sep = 1e300, t_rows2 = 1e300, t_rows3 = 1e300;
  for (int round = 0; round < repeats; ++round) {
    t_alone = std::min(t_alone, ms_per_step(alone, 0, 1, tokens));
    t_one = std::min(t_one, ms_per_step(one, 1, 1, tokens));
    t_two = std::min(t_two, ms_per_step(two, 2, 1, tokens));
    t_sep = std::min(t_sep, ms_per_step(separate, 1, 1, tokens));
    t_rows2 = std::min(t_rows2, ms_per_step(alone, 0, 2, tokens));
    t_rows3 = std::min(t_rows3, ms_per_step(alone, 0, 3, tokens));
  }
  std::printf("GenARM with LoRA-adapter ARMs on a 91M-parameter F32 Llama (hidden 768, 12 layers, vocab 4096;\n"
              "rank-8 adapters on q/k/v/o/gate/up/down, %.2f MB each), BatchGenerator, greedy, 1 thread,\n"
              "%d decoded tokens, best of %d interleaved rounds:\n",
              static_cast<double>(lora1.adapter()->bytes()) / 1e6, tokens, repeats);
  std::printf("  %-48s %8.2f ms/token  1.00x\n", "base alone", t_alone);
  std::printf("  %-48s %8.2f ms/token  %.2fx\n", "GenARM, base + 1 adapter ARM (one shared pass)", t_one, t_one / t_alone);
  std::printf("  %-48s %8.2f ms/token  %.2fx\n", "GenARM, base + 2 adapter ARMs (one shared pass)", t_two, t_two / t_alone);
  std::printf("  %-48s %8.2f ms/token  %.2fx\n", "GenARM, base + a separate full ARM model", t_sep, t_sep / t_alone);
  std::printf("For reference, the dense part alone: the base stepping 2 and 3 sequences together, no adapter:\n");
  std::printf("  %-48s %8.2f ms/step   %.2fx\n", "2 base rows per pass", t_rows2, t_rows2 / t_alone);
  std::printf("  %-48s %8.2f ms/step   %.2fx\n", "3 base rows per pass", t_rows3, t_rows3 / t_alone);
  fs::remove_all(tmp);
  return 0;
}
