#include "genarm/guidance/guided_model.hpp"

#include "guidance_test_helpers.hpp"

namespace genarm {
namespace {

using testing::hf_dir;

TEST(GuidedModel, LoadsABaseWithArmsSharingItsTokenizer) {
  const auto m = GuidedModel::load(hf_dir() / "models" / "llama-small",
                                   {hf_dir() / "models" / "llama-tiny-arm", hf_dir() / "models" / "llama-tiny-arm2"});
  EXPECT_EQ(m.num_arms(), 2u);
  EXPECT_EQ(m.vocab_size(), 1024u);
  EXPECT_EQ(m.eos_token_ids(), std::vector<int32_t>{2});
  auto policy = m.new_policy(Guidance{{0.5f, 0.5f}, 1.0f});
  policy.start(std::vector<int32_t>{1, 2, 3});
  EXPECT_EQ(policy.next_logits().size(), 1024u);
}

TEST(GuidedModel, RejectsAnArmWithAnotherTokenizer) {
  GENARM_EXPECT_ERROR(GuidedModel::load(hf_dir() / "models" / "llama-tiny", {hf_dir() / "models" / "gpt2-tiny"}),
                      ErrorCategory::kInvalidArgument, "tokenizer of ARM", "gpt2-tiny", "share one tokenizer");
}

std::filesystem::path padded_fixture(const std::string& name) { return testing::fixtures_dir() / "padded" / name; }

TEST(GuidedModel, AcceptsAnArmWithAPadTokenBeyondTheBaseVocabularyAndSaysSo) {
  const auto m = GuidedModel::load(hf_dir() / "models" / "llama-tiny",
                                   {padded_fixture("llama-tiny-arm-padded"), hf_dir() / "models" / "llama-tiny-arm2"});
  EXPECT_EQ(m.vocab_size(), 1024u);
  EXPECT_EQ(m.arms()[0].vocab_size(), 1025);
  ASSERT_EQ(m.arm_extra_tokens(0).size(), 1u);
  EXPECT_EQ(m.arm_extra_tokens(0)[0].id, 1024);
  EXPECT_EQ(m.arm_extra_tokens(0)[0].content, "[PAD]");
  EXPECT_TRUE(m.arm_extra_tokens(1).empty());
  // One note, for the padded ARM only.
  ASSERT_EQ(m.compatibility_notes().size(), 1u);
  EXPECT_EQ(m.compatibility_notes()[0],
            "ARM " + padded_fixture("llama-tiny-arm-padded").string() +
                ": 1 extra token: 1024 '[PAD]' (special) beyond the base vocabulary of 1024 tokens, cut away when "
                "decoding");
  auto policy = m.new_policy(Guidance{{0.5f, 0.5f}, 1.0f});
  policy.start(std::vector<int32_t>{1, 2, 3});
  EXPECT_EQ(policy.next_logits().size(), 1024u);
  // Identical tokenizers: nothing to report.
  EXPECT_TRUE(GuidedModel::load(hf_dir() / "models" / "llama-tiny", {hf_dir() / "models" / "llama-tiny-arm"})
                  .compatibility_notes()
                  .empty());
}

TEST(GuidedModel, RejectsATokenizerThatDiffersAtOneIdNamingItAndBothTokens) {
  const auto differs = padded_fixture("llama-tiny-arm-differs");
  const std::string message = testing::error_message(
      [&] { (void)GuidedModel::load(hf_dir() / "models" / "llama-tiny", {differs}); });
  EXPECT_EQ(message, "the tokenizer of ARM " + differs.string() + " differs from the base model's (" +
                         (hf_dir() / "models" / "llama-tiny").string() +
                         "): at id 340, 'z' in the base and 'z\u02bc' in the ARM: GenARM needs base and ARMs to share "
                         "one tokenizer");
}

TEST(GuidedModel, RejectsAnArmWithASmallerVocabulary) {
  // Tokenizer: the padded model as the base, the plain ARM (1024 ids) guiding it.
  GENARM_EXPECT_ERROR(GuidedModel::load(padded_fixture("llama-tiny-arm-padded"), {hf_dir() / "models" / "llama-tiny-arm"}),
                      ErrorCategory::kInvalidArgument, "tokenizer of ARM", "llama-tiny-arm",
                      "its vocabulary is smaller: 1024 token ids in the ARM and 1025 in the base");
  // Logit rows: the padded tokenizer on a model with 1024 rows.
  const auto padded_tokenizer = Tokenizer::from_file(padded_fixture("llama-tiny-arm-padded"));
  const auto padded_model = model::Transformer::load(padded_fixture("llama-tiny-arm-padded"));
  const auto plain_model = model::Transformer::load(hf_dir() / "models" / "llama-tiny-arm");
  GENARM_EXPECT_ERROR(GuidedModel::assemble({"padded-base", padded_tokenizer, padded_model},
                                            {{"short-arm", padded_tokenizer, plain_model}}),
                      ErrorCategory::kInvalidArgument,
                      "ARM short-arm: its vocabulary is smaller than the base's: 1024 logit rows (vocab_size) for the "
                      "base tokenizer's 1025 tokens");
}

TEST(GuidedModel, RejectsARewardModelAsArmOrBase) {
  GENARM_EXPECT_ERROR(GuidedModel::load(hf_dir() / "models" / "llama-tiny", {hf_dir() / "models" / "llama-rm-tiny"}),
                      ErrorCategory::kInvalidArgument, "llama-rm-tiny", "LlamaForSequenceClassification");
  GENARM_EXPECT_ERROR(GuidedModel::load(hf_dir() / "models" / "llama-rm-tiny"), ErrorCategory::kInvalidArgument,
                      "trajectory reward model");
}

TEST(GuidedModel, MissingFoldersAreIoErrors) {
  GENARM_EXPECT_ERROR(GuidedModel::load(hf_dir() / "models" / "no-such-model"), ErrorCategory::kIo, "no-such-model");
}

}  // namespace
}  // namespace genarm
