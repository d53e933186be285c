#include "server/auth/api_key.h"

#include <openssl/evp.h>
#include <sys/random.h>

#include <cerrno>
#include <cstdint>

#include "common/errors.h"

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
  // Fetched once: OpenSSL 3 would otherwise look the implementation up on every call,
  // and this runs on every request.
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (sha256 == nullptr) throw std::runtime_error("SHA-256 is not available (OpenSSL)");
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(key.data(), key.size(), digest, &length, sha256, nullptr) != 1)
    throw std::runtime_error("SHA-256 failed (OpenSSL)");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "sha256:";
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xf];
  }
  return out;
}

std::string api_key_id(std::string_view key) {
  if (!key.starts_with(kApiKeyPrefix) || key.size() != kApiKeyPrefix.size() + kSecretChars ||
      !is_base62(key.substr(kApiKeyPrefix.size())))
    return {};
  return std::string(key.substr(0, kApiKeyIdLength));
}

}  // namespace agentfense::server
