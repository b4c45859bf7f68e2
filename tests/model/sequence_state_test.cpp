#include "genarm/model/sequence_state.hpp"

#include <memory>
#include <vector>

#include "genarm/core/thread_pool.hpp"
#include "genarm/model/synthetic.hpp"
#include "genarm/model/transformer.hpp"
#include "model_test_helpers.hpp"
#include "reference_forward.hpp"

namespace genarm::model {
namespace {

using genarm::testing::llama_config;
using genarm::testing::patched;
using genarm::testing::ReferenceModel;
using genarm::testing::TempDir;
using genarm::testing::token_ids;

// One small causal LM (context 96) and one reward model (pad id 0), shared by every test.
class SequenceStateTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("state");
    write_synthetic_model(dir_->path() / "lm", llama_config(53, 32, 2, 4, 2, 48, 96));
    write_synthetic_model(dir_->path() / "rm",
                          patched(llama_config(53, 32, 2, 4, 2, 48, 96),
                                  {{"architectures", {"LlamaForSequenceClassification"}},
                                   {"id2label", {{"0", "LABEL_0"}}},
                                   {"pad_token_id", 0}}));
    lm_ = new Transformer(Transformer::load(dir_->path() / "lm"));
    rm_ = new Transformer(Transformer::load(dir_->path() / "rm"));
  }
  static void TearDownTestSuite() {
    delete lm_;
    delete rm_;
    delete dir_;
  }

  // Logits after feeding `ids` one token at a time to a fresh state.
  static std::vector<float> fresh_logits(const std::vector<int32_t>& ids) {
    auto s = lm_->new_sequence();
    for (int32_t id : ids) lm_->forward(s, id);
    return {s.logits().begin(), s.logits().end()};
  }
  static std::vector<float> logits(const SequenceState& s) { return {s.logits().begin(), s.logits().end()}; }
  static std::vector<int32_t> tokens(const SequenceState& s) { return {s.tokens().begin(), s.tokens().end()}; }
  static std::vector<int32_t> concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  }
  static void feed(const Transformer& m, SequenceState& s, const std::vector<int32_t>& ids) {
    for (int32_t id : ids) m.forward(s, id);
  }

  static TempDir* dir_;
  static Transformer* lm_;
  static Transformer* rm_;
};
TempDir* SequenceStateTest::dir_ = nullptr;
Transformer* SequenceStateTest::lm_ = nullptr;
Transformer* SequenceStateTest::rm_ = nullptr;

TEST_F(SequenceStateTest, DefaultStateIsEmpty) {
  const SequenceState s;
  EXPECT_EQ(s.length(), 0);
  EXPECT_EQ(s.capacity(), 0);
  EXPECT_TRUE(s.tokens().empty());
  EXPECT_TRUE(s.logits().empty());
  EXPECT_EQ(s.thread_pool(), nullptr);
}

TEST_F(SequenceStateTest, NewSequenceIsSizedForTheModel) {
  const auto s = lm_->new_sequence(10);
  EXPECT_EQ(s.length(), 0);
  EXPECT_GE(s.capacity(), 10);
  EXPECT_EQ(s.max_length(), 96);
  EXPECT_EQ(s.logits().size(), 53u);
  EXPECT_LE(lm_->new_sequence(1000).capacity(), 96) << "capacity is bounded by the context";
}

TEST_F(SequenceStateTest, ReserveGrowsUpToTheContext) {
  auto s = lm_->new_sequence(4);
  s.reserve(50);
  EXPECT_GE(s.capacity(), 50);
  EXPECT_LE(s.capacity(), 96);
  const int64_t capacity = s.capacity();
  s.reserve(3);
  EXPECT_EQ(s.capacity(), capacity) << "reserve never shrinks";
  s.reserve(96);
  EXPECT_EQ(s.capacity(), 96);
  GENARM_EXPECT_ERROR(s.reserve(97), ErrorCategory::kInvalidArgument, "97 tokens", "context of 96",
                      "max_position_embeddings");
}

TEST_F(SequenceStateTest, CacheGrowthKeepsEarlierPositions) {
  const auto ids = token_ids(60, 53, 3);
  auto growing = lm_->new_sequence(1);
  auto roomy = lm_->new_sequence(96);
  for (int32_t id : ids) {
    lm_->forward(growing, id);
    lm_->forward(roomy, id);
    ASSERT_EQ(logits(growing), logits(roomy)) << "after " << growing.length() << " tokens";
  }
  EXPECT_EQ(tokens(growing), ids);
}

TEST_F(SequenceStateTest, ForkedCopiesContinueIndependently) {
  const auto prefix = token_ids(20, 53, 4);
  const std::vector<int32_t> a_more = {5, 6, 7}, b_more = {40, 41};
  auto a = lm_->new_sequence();
  feed(*lm_, a, prefix);
  SequenceState b = a;  // fork
  EXPECT_EQ(tokens(b), prefix);
  EXPECT_EQ(logits(b), logits(a));
  feed(*lm_, a, a_more);
  feed(*lm_, b, b_more);
  EXPECT_EQ(logits(a), fresh_logits(concat(prefix, a_more)));
  EXPECT_EQ(logits(b), fresh_logits(concat(prefix, b_more)));
  EXPECT_EQ(a.length(), 23);
  EXPECT_EQ(b.length(), 22);
}

TEST_F(SequenceStateTest, CopyAssignmentReplacesHistory) {
  auto a = lm_->new_sequence();
  feed(*lm_, a, {1, 2, 3, 4, 5, 6, 7, 8});
  auto b = lm_->new_sequence();
  feed(*lm_, b, {9, 9});
  b = a;
  EXPECT_EQ(tokens(b), tokens(a));
  lm_->forward(b, 10);
  EXPECT_EQ(logits(b), fresh_logits({1, 2, 3, 4, 5, 6, 7, 8, 10}));
  EXPECT_EQ(a.length(), 8) << "the source is untouched";
}

TEST_F(SequenceStateTest, MovedStateKeepsItsCache) {
  auto a = lm_->new_sequence();
  feed(*lm_, a, {3, 1, 4, 1, 5});
  SequenceState b = std::move(a);
  lm_->forward(b, 9);
  EXPECT_EQ(logits(b), fresh_logits({3, 1, 4, 1, 5, 9}));
}

TEST_F(SequenceStateTest, CopyFromGrowsASmallerState) {
  const auto prefix = token_ids(50, 53, 8);
  auto source = lm_->new_sequence();
  feed(*lm_, source, prefix);
  auto target = lm_->new_sequence(1);
  target.copy_from(source);
  EXPECT_GE(target.capacity(), 50);
  EXPECT_EQ(tokens(target), prefix);
  lm_->forward(target, 17);
  EXPECT_EQ(logits(target), fresh_logits(concat(prefix, {17})));
}

TEST_F(SequenceStateTest, CopyFromReusesALargerState) {
  auto source = lm_->new_sequence();
  feed(*lm_, source, {8, 6, 7});
  auto target = lm_->new_sequence(90);
  feed(*lm_, target, token_ids(40, 53, 9));
  const int64_t capacity = target.capacity();
  target.copy_from(source);
  EXPECT_EQ(target.capacity(), capacity) << "copy_from into a roomy state must not reallocate";
  EXPECT_EQ(tokens(target), (std::vector<int32_t>{8, 6, 7}));
  lm_->forward(target, 5);
  EXPECT_EQ(logits(target), fresh_logits({8, 6, 7, 5}));
}

TEST_F(SequenceStateTest, CopyFromAnotherModelsStateBecomesACopy) {
  TempDir dir("other");
  write_synthetic_model(dir.path(), llama_config(53, 48, 3, 4, 4, 64, 96));
  const auto other = Transformer::load(dir.path());
  auto source = lm_->new_sequence();
  feed(*lm_, source, {2, 7, 1, 8});
  auto target = other.new_sequence();
  feed(other, target, {2, 2});
  target.copy_from(source);
  lm_->forward(target, 2);
  EXPECT_EQ(logits(target), fresh_logits({2, 7, 1, 8, 2}));
}

TEST_F(SequenceStateTest, CopyFromItselfChangesNothing) {
  auto s = lm_->new_sequence();
  feed(*lm_, s, {4, 5, 6});
  const auto before = logits(s);
  s.copy_from(s);
  EXPECT_EQ(tokens(s), (std::vector<int32_t>{4, 5, 6}));
  EXPECT_EQ(logits(s), before);
}

TEST_F(SequenceStateTest, ForksShareTheThreadPool) {
  ThreadPool pool(2);
  auto a = lm_->new_sequence();
  a.set_thread_pool(&pool);
  SequenceState b = a;
  EXPECT_EQ(b.thread_pool(), &pool);
  auto c = lm_->new_sequence();
  c.copy_from(a);
  EXPECT_EQ(c.thread_pool(), &pool);
}

TEST_F(SequenceStateTest, TruncateThenDecodeReproducesAFreshRun) {
  const auto ids = token_ids(70, 53, 10);
  auto s = lm_->new_sequence(4);
  lm_->forward(s, ids);  // prefill across chunks
  s.truncate(25);
  EXPECT_EQ(s.length(), 25);
  const std::vector<int32_t> prefix(ids.begin(), ids.begin() + 25);
  EXPECT_EQ(tokens(s), prefix);
  const std::vector<int32_t> continuation = {11, 12, 13, 14};
  feed(*lm_, s, continuation);
  const auto want = fresh_logits(concat(prefix, continuation));
  const auto got = logits(s);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5 * std::max(1.0f, std::abs(want[i]))) << i;
}

TEST_F(SequenceStateTest, TruncateToTheSameLengthKeepsEverything) {
  auto s = lm_->new_sequence();
  feed(*lm_, s, {1, 2, 3});
  const auto before = logits(s);
  s.truncate(3);
  EXPECT_EQ(logits(s), before);
  lm_->forward(s, 4);
  EXPECT_EQ(logits(s), fresh_logits({1, 2, 3, 4}));
}

TEST_F(SequenceStateTest, TruncateRejectsLengthsOutsideTheSequence) {
  auto s = lm_->new_sequence();
  feed(*lm_, s, {1, 2, 3, 4, 5});
  GENARM_EXPECT_ERROR(s.truncate(6), ErrorCategory::kInvalidArgument, "cannot truncate a sequence of 5 tokens to 6");
  GENARM_EXPECT_ERROR(s.truncate(-1), ErrorCategory::kInvalidArgument, "to -1");
  EXPECT_EQ(s.length(), 5);
}

TEST_F(SequenceStateTest, ClearRestartsAtPositionZero) {
  auto s = lm_->new_sequence();
  feed(*lm_, s, token_ids(30, 53, 12));
  s.clear();
  EXPECT_EQ(s.length(), 0);
  feed(*lm_, s, {7, 8, 9});
  EXPECT_EQ(logits(s), fresh_logits({7, 8, 9}));
}

TEST_F(SequenceStateTest, RewardFollowsForksAndClear) {
  auto a = rm_->new_sequence();
  rm_->forward(a, std::vector<int32_t>{5, 9, 3});
  SequenceState b = a;
  rm_->forward(a, 0);  // a pad token: a keeps the score of token 3
  rm_->forward(b, 7);
  auto fresh_a = rm_->new_sequence();
  rm_->forward(fresh_a, std::vector<int32_t>{5, 9, 3, 0});
  auto fresh_b = rm_->new_sequence();
  rm_->forward(fresh_b, std::vector<int32_t>{5, 9, 3, 7});
  EXPECT_NEAR(rm_->reward(a), rm_->reward(fresh_a), 1e-5);
  EXPECT_NEAR(rm_->reward(b), rm_->reward(fresh_b), 1e-5);
  a.clear();
  GENARM_EXPECT_ERROR(rm_->reward(a), ErrorCategory::kInvalidArgument, "reward of an empty sequence");
}

TEST_F(SequenceStateTest, RewardAfterTruncateIsTheTruncatedSequences) {
  const auto reference = ReferenceModel::load(dir_->path() / "rm");
  auto s = rm_->new_sequence();
  rm_->forward(s, std::vector<int32_t>{5, 9, 3, 7});
  s.truncate(2);  // [5, 9]
  EXPECT_NEAR(rm_->reward(s), reference.reward({5, 9}), 1e-5) << "reward right after truncate";
  rm_->forward(s, 0);  // [5, 9, pad]: pooled on token 9
  EXPECT_NEAR(rm_->reward(s), reference.reward({5, 9, 0}), 1e-5) << "a pad token after truncate";
  rm_->forward(s, 4);
  EXPECT_NEAR(rm_->reward(s), reference.reward({5, 9, 0, 4}), 1e-5);
}

}  // namespace
}  // namespace genarm::model
