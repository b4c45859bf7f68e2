#include "genarm/core/large_page_buffer.hpp"

#include <gtest/gtest.h>

#include <cstdint>

namespace genarm {
namespace {

TEST(LargePageBuffer, IsZeroedAlignedAndMovable) {
  LargePageBuffer b(5'000'003);
  ASSERT_NE(b.data(), nullptr);
  EXPECT_EQ(b.size(), 5'000'003u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % LargePageBuffer::kAlignment, 0u);
  for (size_t i = 0; i < b.size(); i += 4093) EXPECT_EQ(b.data()[i], std::byte{0});
  b.data()[b.size() - 1] = std::byte{7};
  LargePageBuffer moved = std::move(b);
  EXPECT_EQ(moved.bytes().back(), std::byte{7});
  EXPECT_EQ(moved.size(), 5'000'003u);
}

TEST(LargePageBuffer, EmptyHasNoStorage) {
  LargePageBuffer b(0);
  EXPECT_EQ(b.data(), nullptr);
  EXPECT_TRUE(b.bytes().empty());
}

}  // namespace
}  // namespace genarm
