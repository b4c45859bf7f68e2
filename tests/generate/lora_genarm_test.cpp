// GenARM with ARMs that are LoRA adapters of the base (the paper's HH-RLHF setting): greedy
// decoding with an adapter ARM — through GuidedModel + generate() (one sequence; the ARM a
// TransformerSource over the adapted model) and through BatchGenerator (base and adapter-ARM rows
// in one forward_batch over the shared weights) — gives the tokens of the same ARM merged
// (W + s B A, computed here and saved as a full checkpoint), and the engine's results are bit for
// bit those of generate() on each request alone.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "../model/model_test_helpers.hpp"
#include "genarm/generate/batch_generator.hpp"
#include "genarm/generate/generator.hpp"
#include "genarm/guidance/guided_model.hpp"
#include "genarm/io/safetensors_writer.hpp"
#include "genarm/model/synthetic.hpp"
#include "test_support.hpp"

namespace genarm::lora_genarm_test_helpers {

namespace fs = std::filesystem;

const char* const kModules[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};

// Writes a rank-r adapter of llama-tiny on all seven projections (random A and B, lora_alpha 2r:
// s = 2) as PEFT saves it, and the merged model W + s B A beside it.
void write_adapter_and_merged(const fs::path& base, const fs::path& adapter, const fs::path& merged, int64_t r,
                              uint64_t seed) {
  const io::ModelConfig c = io::read_model_config(base);
  testing::RawTensors tensors = testing::read_raw_tensors(base / "model.safetensors");
  io::SafetensorsWriter w;
  model::detail::WeightNoise noise(seed);
  const double scale = 2.0;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    for (const char* leaf : kModules) {
      const std::string module = "model.layers." + std::to_string(l) + "." + leaf;
      testing::RawTensor& t = tensors.at(module + ".weight");
      const int64_t out = t.shape[0], in = t.shape[1];
      std::vector<float> a(static_cast<size_t>(r * in)), b(static_cast<size_t>(out * r));
      for (auto& v : a) v = noise.uniform(1.0f / std::sqrt(static_cast<float>(in)));
      for (auto& v : b) v = noise.uniform(1.0f / std::sqrt(static_cast<float>(r)));
      w.add("base_model.model." + module + ".lora_A.weight", {r, in}, a);
      w.add("base_model.model." + module + ".lora_B.weight", {out, r}, b);
      auto* weights = reinterpret_cast<float*>(t.bytes.data());
      for (int64_t o = 0; o < out; ++o) {
        for (int64_t i = 0; i < in; ++i) {
          double delta = 0.0;
          for (int64_t k = 0; k < r; ++k) delta += static_cast<double>(b[static_cast<size_t>(o * r + k)]) * a[static_cast<size_t>(k * in + i)];
          weights[o * in + i] = static_cast<float>(weights[o * in + i] + scale * delta);
        }
      }
    }
  }
  fs::create_directories(adapter);
  w.write(adapter / "adapter_model.safetensors");
  const nlohmann::json config = {{"peft_type", "LORA"},
                                 {"task_type", "CAUSAL_LM"},
                                 {"base_model_name_or_path", base.string()},
                                 {"r", r},
                                 {"lora_alpha", 2 * r},
                                 {"bias", "none"},
                                 {"target_modules", {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}}};
  std::ofstream(adapter / "adapter_config.json") << config.dump(2);
  fs::create_directories(merged);
  for (const char* f : {"config.json", "tokenizer.json"}) fs::copy_file(base / f, merged / f, fs::copy_options::overwrite_existing);
  testing::write_raw_tensors(merged / "model.safetensors", tensors);
}

// The two families: the ARMs as adapters sharing the base's weights, and as merged full models.
struct Families {
  GuidedModel adapters, merged;

  static GuidedModel load_adapters(const fs::path& base, const std::vector<fs::path>& dirs) {
    const Tokenizer tok = Tokenizer::from_file(base);
    const model::Transformer b = model::Transformer::load(base);
    std::vector<GuidedModel::Part> arms;
    for (const auto& d : dirs) arms.push_back({d.string(), tok, model::Transformer::load_adapter(d, b)});
    return GuidedModel::assemble({base.string(), tok, b}, std::move(arms));
  }
  // The folders are removed once loaded (the weights stay mapped).
  static Families make() {
    testing::TempDir t("lora_genarm");
    const fs::path base = testing::hf_dir() / "models" / "llama-tiny";
    write_adapter_and_merged(base, t / "arm1", t / "merged1", 8, 1);
    write_adapter_and_merged(base, t / "arm2", t / "merged2", 4, 2);
    return Families{load_adapters(base, {t / "arm1", t / "arm2"}), GuidedModel::load(base, {t / "merged1", t / "merged2"})};
  }
};

GenerationResult lora_greedy_path(const GuidedModel& m, const std::vector<size_t>& arms, const Guidance& g, const Prompts& p,
                        int tokens) {
  std::vector<TransformerSource> guides;
  for (size_t a : arms) guides.emplace_back(m.arms()[a]);
  GuidedPolicy<TransformerSource> policy(TransformerSource(m.base()), std::move(guides), m.vocab_size(), g);
  sampling::SamplerParams params;
  params.greedy = true;
  sampling::Sampler sampler(params, m.vocab_size());
  GenerationConfig config;
  config.max_new_tokens = tokens;
  config.ignore_eos = true;
  return generate(policy, sampler, m.tokenizer(), p, config);
}

}  // namespace genarm::lora_genarm_test_helpers

namespace genarm {
namespace {

using namespace lora_genarm_test_helpers;

struct Setting {
  std::vector<size_t> arms;
  Guidance guidance;
};
const std::vector<Setting> kSettings = {{{0}, Guidance{{}, 0.5f}}, {{1}, Guidance{{}, 1.0f}}, {{0, 1}, Guidance{{0.6f, 0.4f}, 0.5f}}};
const char* const kTexts[] = {"The weather today", "Once upon a time", "We went to the market"};

TEST(LoraGenarm, AdapterArmsShareTheBaseWeights) {
  const fs::path base = testing::hf_dir() / "models" / "llama-tiny";
  testing::TempDir t("lora_share");
  write_adapter_and_merged(base, t / "arm", t / "merged", 8, 1);
  const GuidedModel m = Families::load_adapters(base, {t / "arm"});
  EXPECT_EQ(m.arms()[0].shared_weights(), m.base().shared_weights());
  EXPECT_EQ(m.arms()[0].adapter()->parameters(), 2 * 8 * (2 * (64 + 64) + 2 * (64 + 32) + 3 * (64 + 172)));
  // GuidedModel::load on the adapter folder (its base_model_name_or_path is the base): shared too,
  // the tokenizer read from the base (the adapter folder has none), decoding as the merged ARM.
  const GuidedModel loaded = GuidedModel::load(base, {t / "arm"});
  EXPECT_EQ(loaded.arms()[0].shared_weights(), loaded.base().shared_weights());
  const GuidedModel merged = GuidedModel::load(base, {t / "merged"});
  const Prompts prompts{loaded.tokenizer().encode("Once upon a time"), {}};
  EXPECT_EQ(lora_greedy_path(loaded, {0}, Guidance{{}, 0.5f}, prompts, 16).ids,
            lora_greedy_path(merged, {0}, Guidance{{}, 0.5f}, prompts, 16).ids);
}

TEST(LoraGenarm, GreedyPathsWithAdapterArmsEqualThoseWithMergedArms) {
  const Families f = Families::make();
  for (const char* text : kTexts) {
    const Prompts prompts{f.adapters.tokenizer().encode(text), {}};
    const auto alone = lora_greedy_path(f.adapters, {}, Guidance{}, prompts, 24);
    for (const Setting& s : kSettings) {
      const auto got = lora_greedy_path(f.adapters, s.arms, s.guidance, prompts, 24);
      const auto want = lora_greedy_path(f.merged, s.arms, s.guidance, prompts, 24);
      EXPECT_EQ(got.ids, want.ids) << "'" << text << "', " << s.arms.size() << " ARM(s)";
      EXPECT_NE(got.ids, alone.ids) << "the ARM should change the path of '" << text << "'";
    }
  }
}

TEST(LoraGenarm, BatchGeneratorStepsAdapterArmsWithTheBaseExactlyAsGenerate) {
  const Families f = Families::make();
  std::vector<BatchRequest> requests;
  std::vector<GenerationResult> single, merged;
  for (const char* text : kTexts) {
    for (const Setting& s : kSettings) {
      BatchRequest r;
      r.prompts.base = f.adapters.tokenizer().encode(text);
      r.arms = s.arms;
      r.guidance = s.guidance;
      r.sampler.greedy = true;
      r.config.max_new_tokens = 16;
      r.config.ignore_eos = true;
      requests.push_back(r);
      single.push_back(lora_greedy_path(f.adapters, s.arms, s.guidance, r.prompts, 16));
      merged.push_back(lora_greedy_path(f.merged, s.arms, s.guidance, r.prompts, 16));
    }
    BatchRequest base_alone;  // a base-only sequence among the guided ones
    base_alone.prompts.base = f.adapters.tokenizer().encode(text);
    base_alone.sampler.greedy = true;
    base_alone.config.max_new_tokens = 16;
    base_alone.config.ignore_eos = true;
    requests.push_back(base_alone);
    single.push_back(lora_greedy_path(f.adapters, {}, Guidance{}, base_alone.prompts, 16));
    merged.push_back(single.back());
  }
  ThreadPool two(2);
  for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &two}) {
    BatchGenerator engine(f.adapters, {5, 4}, pool);
    std::map<uint64_t, GenerationResult> done;
    std::vector<uint64_t> ids;
    for (auto r : requests) {
      r.on_done = [&done](uint64_t id, int, GenerationResult result) { done[id] = std::move(result); };
      ids.push_back(engine.submit(std::move(r)));
    }
    engine.run();
    ASSERT_EQ(done.size(), requests.size());
    for (size_t k = 0; k < requests.size(); ++k) {
      const GenerationResult& got = done.at(ids[k]);
      EXPECT_EQ(got.ids, single[k].ids) << "request " << k;
      ASSERT_EQ(got.details.size(), single[k].details.size());
      EXPECT_EQ(std::memcmp(got.details.data(), single[k].details.data(), got.details.size() * sizeof(TokenDetail)), 0)
          << "request " << k << ": per-token log-probs differ from generate() alone";
      EXPECT_EQ(got.ids, merged[k].ids) << "request " << k << " against the merged ARMs";
    }
  }
}

}  // namespace
}  // namespace genarm
