// API keys: their shape, their randomness and their hash (auth/api_key.h).
#include "server/auth/api_key.h"

#include <gtest/gtest.h>

#include <set>

namespace agentfense::server {
namespace {

TEST(ApiKey, IsAfkAndFortyThreeBase62Characters) {
  const std::string key = generate_api_key();
  ASSERT_EQ(key.size(), 47u);
  EXPECT_TRUE(key.starts_with("afk_"));
  EXPECT_EQ(
      key.find_first_not_of("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", 4),
      std::string::npos);
  EXPECT_EQ(api_key_id(key), key.substr(0, 12));
}

TEST(ApiKey, KeysDoNotRepeatAndUseTheWholeAlphabet) {
  std::set<std::string> keys;
  std::set<char> seen;
  for (int i = 0; i < 500; ++i) {
    const std::string key = generate_api_key();
    keys.insert(key);
    seen.insert(key.begin() + 4, key.end());
  }
  EXPECT_EQ(keys.size(), 500u);
  EXPECT_EQ(seen.size(), 62u);
}

TEST(ApiKey, HashIsSha256OfTheWholeKey) {
  // echo -n abc | sha256sum
  EXPECT_EQ(hash_api_key("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string key = generate_api_key();
  EXPECT_NE(hash_api_key(key), hash_api_key(key + "x"));
}

TEST(ApiKey, IdOnlyForWellFormedKeys) {
  EXPECT_EQ(api_key_id("afk_short"), "");
  EXPECT_EQ(api_key_id("xyz_" + std::string(43, 'a')), "");
  EXPECT_EQ(api_key_id("afk_" + std::string(42, 'a') + "-"), "");
}

}  // namespace
}  // namespace agentfense::server
