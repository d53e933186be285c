#include "audit/chain.h"

#include <openssl/evp.h>

#include <stdexcept>

namespace agentfense::audit {
namespace {
constexpr std::string_view kHashMember = ",\"hash\":\"";
constexpr size_t kHexLength = 64;
}  // namespace

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("sha256: EVP_Digest failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xf];
  }
  return out;
}

std::string link_hash(std::string_view prev, std::string_view body) {
  std::string input;
  input.reserve(prev.size() + 1 + body.size());
  input.append(prev).append("\n").append(body);
  return sha256_hex(input);
}

std::string seal(std::string_view body, std::string_view hash) {
  std::string line(body.substr(0, body.size() - 1));  // drop the closing '}'
  line.append(kHashMember).append(hash).append("\"}");
  return line;
}

bool split_line(std::string_view line, std::string* body, std::string* hash) {
  const size_t suffix = kHashMember.size() + kHexLength + 2;
  if (line.size() < suffix + 2 || !line.ends_with("\"}")) return false;
  const size_t member = line.size() - suffix;
  if (line.substr(member, kHashMember.size()) != kHashMember) return false;
  const std::string_view hex = line.substr(member + kHashMember.size(), kHexLength);
  for (const char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  *hash = std::string(hex);
  *body = std::string(line.substr(0, member)) + "}";
  return true;
}

}  // namespace agentfense::audit
