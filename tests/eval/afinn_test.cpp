#include "genarm/eval/afinn.hpp"

#include "test_support.hpp"

namespace genarm::eval {
namespace {

TEST(Afinn, ScoresLikeTheReferenceEvaluation) {
  const auto s = AfinnScorer::load(testing::source_dir() / "data" / "afinn165.json");
  EXPECT_GT(s.size(), 3000u);
  EXPECT_EQ(s.score(""), 0);
  EXPECT_EQ(s.score("good"), 3);
  EXPECT_EQ(s.score("GOOD, good!"), 6);       // lower-cased; punctuation splits words
  EXPECT_EQ(s.score("abandon the good"), 1);  // -2 + 3
  EXPECT_EQ(s.score("goodx xgood"), 0);       // whole words only
  EXPECT_EQ(s.score("don't"), 0);             // apostrophes are part of the word
  EXPECT_EQ(s.score("bad-good"), 0);          // -3 + 3
  EXPECT_EQ(s.score("caf\xc3\xa9 good"), 3);  // non-ASCII letters end a word
}

TEST(Afinn, RejectsBadFiles) {
  testing::TempDir dir("afinn");
  testing::write_file(dir / "a.json", "[1, 2]");
  GENARM_EXPECT_ERROR(AfinnScorer::load(dir / "a.json"), ErrorCategory::kFormat, "a.json: expected an object, got an array [1,2]");
  testing::write_file(dir / "b.json", "{\"good\": \"3\"}");
  GENARM_EXPECT_ERROR(AfinnScorer::load(dir / "b.json"), ErrorCategory::kFormat, "b.json: good: expected an integer, got a string \"3\"");
}

}  // namespace
}  // namespace genarm::eval
