// bearer_token and same_token (common/bearer_token.h): what the server's API-key check
// and `agentfense mcp --http`'s endpoint token accept.
#include "common/bearer_token.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

namespace agentfense {
namespace {

TEST(BearerToken, TakesTheTokenOfTheBearerScheme) {
  EXPECT_EQ(bearer_token("Bearer abc123"), "abc123");
  EXPECT_EQ(bearer_token("bearer abc123"), "abc123");
  EXPECT_EQ(bearer_token("BEARER   abc123  "), "abc123");
}

TEST(BearerToken, AnythingElseIsNoToken) {
  for (const std::string& header : std::initializer_list<std::string>{
           "", "Bearer", "Bearer ", "Bearer    ", "Basic abc123", "Bearerabc123", "Bearer abc 123",
           "Bearer abc\t123", std::string("Bearer abc\0def", 14)})
    EXPECT_EQ(bearer_token(header), "") << header;
}

TEST(SameToken, EqualOnlyWhenEveryByteAndTheLengthMatch) {
  EXPECT_TRUE(same_token("0123456789abcdef", "0123456789abcdef"));
  EXPECT_TRUE(same_token("", ""));
  EXPECT_FALSE(same_token("0123456789abcdeF", "0123456789abcdef"));
  EXPECT_FALSE(same_token("1123456789abcdef", "0123456789abcdef"));
  EXPECT_FALSE(same_token("0123456789abcde", "0123456789abcdef"));
  EXPECT_FALSE(same_token("0123456789abcdef0", "0123456789abcdef"));
  EXPECT_FALSE(same_token("", "0123456789abcdef"));
}

}  // namespace
}  // namespace agentfense
