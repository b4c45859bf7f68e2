// Plugging your own engine into GenARM. Anything with prefill / advance / logits / vocab_size /
// reset / fork is a LogitSource; GuidedPolicy is a template over it, so there is no virtual call
// per token. Here the "engine" is a hand-written guide that likes a few words (a lexical ARM):
// its log-probs favour the tokens of those words, and it steers the toy transformer base.
#include <genarm/genarm.hpp>

#include <cstdio>

#include "example_paths.hpp"

// A user's logit source: fixed preferences over the vocabulary, whatever the history.
class KeywordGuide {
 public:
  KeywordGuide(const genarm::Tokenizer& tokenizer, const std::vector<std::string>& words)
      : logits_(tokenizer.vocab_size(), 0.0f) {
    for (const auto& w : words) {
      for (int32_t id : tokenizer.encode(" " + w, /*add_special_tokens=*/false)) logits_[static_cast<size_t>(id)] = 5.0f;
    }
  }
  void prefill(std::span<const int32_t> tokens) { length_ += tokens.size(); }
  void advance(int32_t) { ++length_; }
  std::span<const float> logits() const { return logits_; }
  size_t vocab_size() const { return logits_.size(); }
  void reset() { length_ = 0; }
  KeywordGuide fork() const { return *this; }

 private:
  std::vector<float> logits_;
  size_t length_ = 0;
};
static_assert(genarm::LogitSource<KeywordGuide>);

int main(int argc, char** argv) {
  const auto models = models_dir(argc, argv);
  const auto base = genarm::GuidedModel::load(models / "toy-base");  // for its tokenizer and transformer
  const auto& tokenizer = base.tokenizer();
  const std::vector<std::string> words{"river", "water", "boat"};

  genarm::GuidedPolicy<genarm::TransformerSource, KeywordGuide> policy(
      genarm::TransformerSource(base.base()), {KeywordGuide(tokenizer, words)}, tokenizer.vocab_size(),
      genarm::Guidance{{1.0f}, 1.0f});
  genarm::sampling::Sampler sampler(genarm::sampling::SamplerParams{}, tokenizer.vocab_size());
  genarm::GenerationConfig config;
  config.max_new_tokens = 30;
  config.eos_token_ids = base.eos_token_ids();

  int hits = 0;
  for (const char* prompt : {"In the valley", "The town", "At dawn"}) {
    sampler.reseed(3);
    const auto r = genarm::generate(policy, sampler, tokenizer, genarm::Prompts{tokenizer.encode(prompt), {}}, config);
    for (const auto& w : words) {
      for (size_t pos = r.text.find(w); pos != std::string::npos; pos = r.text.find(w, pos + 1)) ++hits;
    }
    std::printf("%s%s\n", prompt, r.text.c_str());
  }
  std::printf("keyword mentions: %d\n", hits);
  return hits > 0 ? 0 : 1;
}
