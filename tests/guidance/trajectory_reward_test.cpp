#include "genarm/guidance/trajectory_reward.hpp"

#include <utility>
#include <vector>

#include "guidance_test_helpers.hpp"

namespace genarm {
namespace {

using testing::fixture_model;

TEST(TrajectoryRewardBatch, EqualsScoringOneAtATime) {
  TrajectoryReward rm(fixture_model("llama-rm-tiny"));
  std::vector<std::vector<int32_t>> prompts, responses;
  for (int i = 0; i < 70; ++i) {  // more than one group of the batch
    prompts.push_back({1, 5 + i % 13});
    responses.emplace_back();
    for (int j = 0; j < i % 6; ++j) responses.back().push_back(30 + 11 * j + i % 17);
  }
  std::vector<std::pair<std::span<const int32_t>, std::span<const int32_t>>> items;
  for (size_t i = 0; i < prompts.size(); ++i) items.emplace_back(prompts[i], responses[i]);
  const auto batched = rm.score_batch(items);
  ASSERT_EQ(batched.size(), items.size());
  for (size_t i = 0; i < items.size(); ++i) EXPECT_EQ(batched[i], rm(prompts[i], responses[i])) << i;
  const std::vector<int32_t> empty;
  items = {{empty, empty}};
  GENARM_EXPECT_ERROR(rm.score_batch(items), ErrorCategory::kInvalidArgument, "nothing to score");
}

}  // namespace
}  // namespace genarm
