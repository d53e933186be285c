#include "audit/chain.h"

#include "common/sha256.h"

namespace agentfense::audit {
namespace {
constexpr std::string_view kHashMember = ",\"hash\":\"";
constexpr size_t kHexLength = 64;
}  // namespace

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
