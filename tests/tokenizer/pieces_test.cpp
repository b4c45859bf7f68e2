#include "genarm/tokenizer/pieces.hpp"

#include <string>
#include <vector>

#include "test_support.hpp"

namespace genarm::tokenizer {
namespace {

// "the-final--countdown" split on '-': the segments as a char-predicate pattern yields them.
std::vector<std::string> split_on_dash(SplitBehavior behavior) {
  const std::string text = "the-final--countdown";
  std::vector<Segment> segments;
  uint32_t last = 0;
  for (uint32_t i = 0; i < text.size(); ++i) {
    if (text[i] != '-') continue;
    if (last < i) segments.push_back({last, i, false});
    segments.push_back({i, i + 1, true});
    last = i + 1;
  }
  segments.push_back({last, static_cast<uint32_t>(text.size()), false});
  std::vector<PieceList::Span> spans;
  apply_split_behavior(behavior, segments, 0, spans);
  std::vector<std::string> out;
  for (const auto& s : spans) out.push_back(text.substr(s.begin, s.end - s.begin));
  return out;
}

using Strings = std::vector<std::string>;

// The examples of HF's SplitDelimiterBehavior documentation.
TEST(Pieces, SplitBehaviors) {
  EXPECT_EQ(split_on_dash(SplitBehavior::kRemoved), (Strings{"the", "final", "countdown"}));
  EXPECT_EQ(split_on_dash(SplitBehavior::kIsolated),
            (Strings{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(split_on_dash(SplitBehavior::kMergedWithPrevious),
            (Strings{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(split_on_dash(SplitBehavior::kMergedWithNext),
            (Strings{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(split_on_dash(SplitBehavior::kContiguous),
            (Strings{"the", "-", "final", "--", "countdown"}));
}

TEST(Pieces, SpansAreOffsetByTheirPieceAndEmptyOnesDropped) {
  std::vector<Segment> segments{{0, 0, true}, {0, 3, false}, {3, 3, true}};
  std::vector<PieceList::Span> spans;
  apply_split_behavior(SplitBehavior::kIsolated, segments, 10, spans);
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].begin, 10u);
  EXPECT_EQ(spans[0].end, 13u);
}

TEST(Pieces, NormalizedStringTracksOrigins) {
  NormalizedString s;
  s.assign("ab", 5);
  EXPECT_EQ(s.origin, (std::vector<uint32_t>{5, 6}));
  s.append(U'\u2581', 7);
  EXPECT_EQ(s.text, "ab\u2581");
  EXPECT_EQ(s.origin, (std::vector<uint32_t>{5, 6, 7, 7, 7}));
  PieceList pieces;
  pieces.buffer.append_range(s, 1, 5);
  pieces.close_piece(0);
  pieces.close_piece(pieces.buffer.size());  // empty: ignored
  ASSERT_EQ(pieces.size(), 1u);
  EXPECT_EQ(pieces.piece(0), "b\u2581");
  EXPECT_EQ(pieces.piece_origin(0), 6u);
}

}  // namespace
}  // namespace genarm::tokenizer
