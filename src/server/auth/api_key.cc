#include "server/auth/api_key.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdint>

#include "common/errors.h"
#include "common/sha256.h"

namespace agentfense::server {
namespace {

constexpr std::string_view kBase62 =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
constexpr std::size_t kSecretChars = 43;  // 43 * log2(62) > 256 bits

bool is_base62(std::string_view text) {
  return text.find_first_not_of(kBase62) == std::string_view::npos;
}

}  // namespace

std::string generate_api_key() {
  std::string key(kApiKeyPrefix);
  // Rejection sampling keeps every character uniform: bytes >= 248 (= 4 * 62) are
  // drawn again instead of biasing the first characters of the alphabet.
  while (key.size() < kApiKeyPrefix.size() + kSecretChars) {
    unsigned char bytes[64];
    const ssize_t got = ::getrandom(bytes, sizeof bytes, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw SystemError("getrandom", errno);
    for (ssize_t i = 0; i < got && key.size() < kApiKeyPrefix.size() + kSecretChars; ++i)
      if (bytes[i] < 248) key += kBase62[bytes[i] % 62];
  }
  return key;
}

std::string hash_api_key(std::string_view key) {
  return "sha256:" + sha256_hex(key);
}

std::string api_key_id(std::string_view key) {
  if (!key.starts_with(kApiKeyPrefix) || key.size() != kApiKeyPrefix.size() + kSecretChars ||
      !is_base62(key.substr(kApiKeyPrefix.size())))
    return {};
  return std::string(key.substr(0, kApiKeyIdLength));
}

}  // namespace agentfense::server
