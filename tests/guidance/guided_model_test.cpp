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
