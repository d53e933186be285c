#include "layer/path_escape.h"

#include <gtest/gtest.h>

namespace agentfense::layer {
namespace {

TEST(PathEscape, RoundTripsEveryByteValue) {
  std::string all;
  for (int byte = 1; byte < 256; ++byte) all += static_cast<char>(byte);
  const std::string escaped = escape_bytes(all);
  EXPECT_EQ(escaped.find('\n'), std::string::npos);
  EXPECT_EQ(escaped.find(' '), std::string::npos);
  EXPECT_EQ(unescape_bytes(escaped), all);
}

TEST(PathEscape, UsesReadableEscapes) {
  EXPECT_EQ(escape_bytes("/a b\\c\nd\te\xff"), "/a\\x20b\\\\c\\nd\\te\\xff");
}

TEST(PathEscape, RejectsMalformedEscapes) {
  EXPECT_EQ(unescape_bytes("/a\\"), std::nullopt);
  EXPECT_EQ(unescape_bytes("/a\\x4"), std::nullopt);
  EXPECT_EQ(unescape_bytes("/a\\xzz"), std::nullopt);
  EXPECT_EQ(unescape_bytes("/a\\q"), std::nullopt);
}

}  // namespace
}  // namespace agentfense::layer
