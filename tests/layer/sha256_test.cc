// The one SHA-256 (common/sha256.h): upload checksums, API key hashes and the audit
// chain all print it through here.
#include "common/sha256.h"

#include <gtest/gtest.h>

namespace agentfense {
namespace {

// FIPS 180-2 test vectors.
constexpr const char* kEmpty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr const char* kAbc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

TEST(Sha256, OneCallMatchesTheStandardVectors) {
  EXPECT_EQ(sha256_hex(""), kEmpty);
  EXPECT_EQ(sha256_hex("abc"), kAbc);
}

TEST(Sha256, ChunksHashLikeTheWhole) {
  Sha256 empty;
  EXPECT_EQ(empty.finish_hex(), kEmpty);
  Sha256 chunked;
  chunked.update("a");
  chunked.update("");
  chunked.update("bc");
  EXPECT_EQ(chunked.finish_hex(), kAbc);
  const std::string big(100'000, '\x01');
  Sha256 halves;
  halves.update(std::string_view(big).substr(0, 33'333));
  halves.update(std::string_view(big).substr(33'333));
  EXPECT_EQ(halves.finish_hex(), sha256_hex(big));
}

}  // namespace
}  // namespace agentfense
