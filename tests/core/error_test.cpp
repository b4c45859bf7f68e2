#include "genarm/core/error.hpp"

#include "test_support.hpp"

namespace genarm {
namespace {

TEST(Error, CarriesCategoryAndMessage) {
  const Error e(ErrorCategory::kConfig, "config.json: key 'hidden_size' missing");
  EXPECT_EQ(e.category(), ErrorCategory::kConfig);
  EXPECT_STREQ(e.what(), "config.json: key 'hidden_size' missing");
  EXPECT_EQ(to_string(ErrorCategory::kInvalidArgument), "invalid_argument");
}

TEST(Error, FailStreamsArguments) {
  GENARM_EXPECT_ERROR(fail(ErrorCategory::kFormat, "tensor '", "w", "' has ", 3, " dims"),
                      ErrorCategory::kFormat, "tensor 'w' has 3 dims");
}

TEST(Error, WithContextPrefixesAndKeepsCategory) {
  GENARM_EXPECT_ERROR(
      with_context("model/config.json", [] { fail(ErrorCategory::kConfig, "key 'x' missing"); }),
      ErrorCategory::kConfig, "model/config.json: key 'x' missing");
  EXPECT_EQ(with_context("ctx", [] { return 7; }), 7);
}

TEST(Error, AssertThrowsInternal) {
  GENARM_EXPECT_ERROR(GENARM_ASSERT(1 + 1 == 3), ErrorCategory::kInternal, "1 + 1 == 3");
}

}  // namespace
}  // namespace genarm
