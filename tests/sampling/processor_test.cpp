#include "genarm/sampling/processor.hpp"

#include <string>
#include <vector>

#include "sampling_helpers.hpp"
#include "test_support.hpp"

namespace genarm::sampling {
namespace {

using test::candidates_of;

// Adds `delta` to token 0 each step and records what it was told, to observe the chain's plumbing.
class Recorder final : public Processor {
 public:
  Recorder(std::string tag, std::vector<std::string>* log) : tag_(std::move(tag)), log_(log) {}
  std::string_view name() const override { return tag_; }
  void apply(Candidates& c) override {
    log_->push_back(tag_ + ".apply");
    c.items()[0].logit += 1.0f;
    ++applied_;
  }
  void accept(int32_t token) override {
    log_->push_back(tag_ + ".accept" + std::to_string(token));
    history_.push_back(token);
  }
  void reset() override {
    log_->push_back(tag_ + ".reset");
    history_.clear();
  }
  void reserve(size_t vocab) override {
    log_->push_back(tag_ + ".reserve" + std::to_string(vocab));
  }
  std::unique_ptr<Processor> clone() const override { return std::make_unique<Recorder>(*this); }

  int applied_ = 0;
  std::vector<int32_t> history_;

 private:
  std::string tag_;
  std::vector<std::string>* log_;
};

TEST(Chain, AppliesStepsInOrderAndForwardsEverything) {
  std::vector<std::string> log;
  Chain chain;
  chain.add(std::make_unique<Recorder>("a", &log)).add(std::make_unique<Recorder>("b", &log));
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(chain.name(), "chain");
  EXPECT_EQ(chain.at(1).name(), "b");

  Candidates c = candidates_of({0, 0});
  chain.reserve(7);
  chain.accept(4);
  chain.apply(c);
  chain.reset();
  EXPECT_EQ(log, (std::vector<std::string>{"a.reserve7", "b.reserve7", "a.accept4", "b.accept4",
                                           "a.apply", "b.apply", "a.reset", "b.reset"}));
  EXPECT_EQ(c.items()[0].logit, 2.0f);  // both steps ran on the same candidates
}

TEST(Chain, CloneAndCopyAreDeepWithTheSameState) {
  std::vector<std::string> log;
  Chain chain;
  auto& recorder = chain.emplace<Recorder>("a", &log);
  chain.accept(1);
  chain.accept(2);

  Chain copy = chain;
  std::unique_ptr<Processor> cloned = chain.clone();
  auto& copied = dynamic_cast<Recorder&>(copy.at(0));
  EXPECT_EQ(copied.history_, (std::vector<int32_t>{1, 2}));
  EXPECT_NE(&copied, &recorder);

  // Diverging afterwards does not affect the original.
  copy.accept(3);
  cloned->reset();
  EXPECT_EQ(recorder.history_, (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(copied.history_, (std::vector<int32_t>{1, 2, 3}));

  Chain assigned;
  assigned = copy;
  EXPECT_EQ(dynamic_cast<Recorder&>(assigned.at(0)).history_, (std::vector<int32_t>{1, 2, 3}));
}

TEST(Chain, ChainNestsAsAProcessor) {
  std::vector<std::string> log;
  auto inner = std::make_unique<Chain>();
  inner->emplace<Recorder>("in", &log);
  Chain outer;
  outer.add(std::move(inner));
  outer.emplace<Recorder>("out", &log);
  Candidates c = candidates_of({0});
  outer.apply(c);
  EXPECT_EQ(log, (std::vector<std::string>{"in.apply", "out.apply"}));
}

TEST(Chain, RejectsNullAndOutOfRange) {
  Chain chain;
  GENARM_EXPECT_ERROR(chain.add(nullptr), ErrorCategory::kInvalidArgument, "null processor");
  GENARM_EXPECT_ERROR(chain.at(0), ErrorCategory::kInvalidArgument, "at(0)", "0 processors");
}

TEST(Chain, EmptyChainLeavesCandidatesAlone) {
  Chain chain;
  Candidates c = candidates_of({3, 1, 2});
  chain.apply(c);
  EXPECT_EQ(c.size(), 3u);
  EXPECT_EQ(c.items()[0].logit, 3.0f);
  EXPECT_EQ(c.selected(), -1);
}

}  // namespace
}  // namespace genarm::sampling
