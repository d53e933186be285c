#include "store/page_token.h"

#include <gtest/gtest.h>

#include "common/api_error.h"

namespace agentfense::store {
namespace {

TEST(PageToken, RoundTrips) {
  const std::string token = encode_page_token("cb", {1234567, "cb_00ff"});
  const auto cursor = decode_page_token("cb", token);
  ASSERT_TRUE(cursor);
  EXPECT_EQ(cursor->created_at_us, 1234567);
  EXPECT_EQ(cursor->id, "cb_00ff");
  EXPECT_EQ(
      token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
      std::string::npos);
}

TEST(PageToken, EmptyMeansFirstPage) {
  EXPECT_FALSE(decode_page_token("cb", ""));
}

TEST(PageToken, GarbledForgedOrForeignTokensAreInvalidArgument) {
  const std::string good = encode_page_token("cb", {42, "cb_ab"});
  const std::vector<std::string> bad = {
      "!!!!",                                   // not base64url
      good.substr(0, good.size() - 1),          // truncated
      good + "A",                               // one char too many
      base64url_encode("cb|42"),                // missing id
      base64url_encode("cb|x42|cb_ab"),         // not a number
      base64url_encode("cb|-5|cb_ab"),          // negative time
      base64url_encode("cb|42|cb_ab' OR 1=1"),  // not an id we issue
      encode_page_token("sb", {42, "sb_ab"}),   // a sandbox token
  };
  for (const std::string& token : bad) {
    try {
      decode_page_token("cb", token);
      ADD_FAILURE() << "accepted " << token;
    } catch (const ApiError& e) {
      EXPECT_EQ(e.code(), StatusCode::INVALID_ARGUMENT) << token;
    }
  }
}

TEST(PageToken, Base64UrlMatchesRfc4648Vectors) {
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_encode("fo"), "Zm8");
  EXPECT_EQ(base64url_encode("foo"), "Zm9v");
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  EXPECT_EQ(base64url_decode("-_8"), std::string("\xfb\xff"));
  EXPECT_FALSE(base64url_decode("Zh"));  // non-canonical trailing bits
}

TEST(PageSize, DefaultsAndCaps) {
  EXPECT_EQ(effective_page_size(0), 50);
  EXPECT_EQ(effective_page_size(7), 7);
  EXPECT_EQ(effective_page_size(5000), 1000);
  EXPECT_THROW(effective_page_size(-1), ApiError);
}

}  // namespace
}  // namespace agentfense::store
