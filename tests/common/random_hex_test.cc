// random_hex (common/random_hex.h), behind session tokens, instance, store and MCP
// session ids, and commit temp names: the length and alphabet they rely on, and values
// that do not repeat.
#include "common/random_hex.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <string>

namespace agentfense {
namespace {

TEST(RandomHex, TwoLowerCaseHexDigitsPerByte) {
  for (const std::size_t bytes : {0u, 1u, 8u, 16u, 300u}) {
    const std::string hex = random_hex(bytes);
    EXPECT_EQ(hex.size(), 2 * bytes);
    EXPECT_EQ(hex.find_first_not_of("0123456789abcdef"), std::string::npos) << hex;
  }
}

TEST(RandomHex, ValuesDoNotRepeat) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(seen.insert(random_hex(8)).second);
  uint64_t a = 0, b = 0;
  fill_random(&a, sizeof a);
  fill_random(&b, sizeof b);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace agentfense
