// Weak-to-strong guidance: a small ARM steers a larger base that shares its tokenizer. Here the
// 1.3M-parameter positive ARM guides the 3.2M-parameter base; the same code guides a 70B base with
// a 7B ARM. GuidedModel checks that the tokenizers are identical and cuts the vocabulary to the
// tokenizer's size when an embedding table is padded.
#include <genarm/genarm.hpp>

#include <cstdio>

#include "example_paths.hpp"

namespace {
int64_t parameters(const genarm::model::Transformer& m) {
  const auto& c = m.config();
  const int64_t attn = 2 * c.hidden_size * c.q_dim() + 2 * c.hidden_size * c.kv_dim();
  const int64_t mlp = 3 * c.hidden_size * c.intermediate_size;
  return c.num_hidden_layers * (attn + mlp) + c.vocab_size * c.hidden_size * (c.tie_word_embeddings ? 1 : 2);
}
}  // namespace

int main(int argc, char** argv) {
  const auto models = models_dir(argc, argv);
  const auto afinn = genarm::eval::AfinnScorer::load(models / ".." / "data" / "afinn165.json");
  const auto model = genarm::GuidedModel::load(models / "toy-base", {models / "toy-arm-positive"});
  std::printf("base %s: %.2fM parameters; ARM %s: %.2fM parameters; shared vocabulary %zu\n",
              model.base().name().c_str(), static_cast<double>(parameters(model.base())) / 1e6,
              model.arms()[0].name().c_str(), static_cast<double>(parameters(model.arms()[0])) / 1e6,
              model.vocab_size());

  genarm::GenerationConfig config;
  config.max_new_tokens = 40;
  config.eos_token_ids = model.eos_token_ids();
  std::vector<std::string> prompts;
  {
    genarm::io::JsonlReader reader(models / ".." / "data" / "prompts.jsonl");
    while (auto line = reader.next()) {
      prompts.push_back((*line)["prompt"].get<std::string>());
      if (prompts.size() == 24) break;
    }
  }
  double scores[2] = {0, 0};
  for (int guided = 0; guided < 2; ++guided) {
    auto policy = model.new_policy(genarm::Guidance{{guided ? 1.0f : 0.0f}, 1.0f});
    genarm::sampling::Sampler sampler(genarm::sampling::SamplerParams{}, model.vocab_size());
    for (size_t i = 0; i < prompts.size(); ++i) {
      sampler.reseed(i);
      const auto r = genarm::generate(policy, sampler, model.tokenizer(),
                                      genarm::Prompts{model.tokenizer().encode(prompts[i]), {}}, config);
      scores[guided] += afinn.score(r.text);
    }
  }
  std::printf("mean sentiment over %zu prompts: strong base alone %.2f, guided by the weak ARM %.2f\n", prompts.size(),
              scores[0] / static_cast<double>(prompts.size()), scores[1] / static_cast<double>(prompts.size()));
  return scores[1] > scores[0] ? 0 : 1;
}
