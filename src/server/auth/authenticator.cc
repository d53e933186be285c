#include "server/auth/authenticator.h"

#include <cctype>

#include "common/ascii_case.h"
#include "common/log.h"
#include "server/api.h"
#include "server/auth/api_key.h"

namespace agentfense::server {
namespace {

[[noreturn]] void refuse(const std::string& why) {
  throw ApiError(StatusCode::UNAUTHENTICATED, why, kReasonUnauthenticated);
}

// The token of "Bearer TOKEN" (scheme case-insensitive, RFC 6750), or empty.
std::string bearer_token(const std::string& header) {
  constexpr std::string_view kScheme = "bearer ";
  if (header.size() <= kScheme.size()) return {};
  if (ascii_lower(std::string_view(header).substr(0, kScheme.size())) != kScheme) return {};
  std::size_t start = kScheme.size();
  while (start < header.size() && header[start] == ' ') ++start;
  std::size_t end = header.size();
  while (end > start && header[end - 1] == ' ') --end;
  const std::string token = header.substr(start, end - start);
  for (char c : token)
    if (std::isspace(static_cast<unsigned char>(c)) || std::iscntrl(static_cast<unsigned char>(c)))
      return {};
  return token;
}

}  // namespace

PrincipalPtr Authenticator::authenticate(const PresentedCredentials& presented) const {
  if (presented.authorization) {
    const std::string token = bearer_token(*presented.authorization);
    if (token.empty())
      refuse("malformed authorization: send exactly one 'authorization: Bearer <API key>'");
    if (const auto match = keys_.by_key_hash(hash_api_key(token))) return match->principal;
    refuse("API key not recognised (unknown, revoked or mistyped)");
  }
  if (presented.certificate_cn) {
    if (const auto match = keys_.by_certificate(*presented.certificate_cn)) return match->principal;
    refuse("client certificate CN '" + escape_user_text(*presented.certificate_cn) +
           "' is not mapped to a principal (no key entry has this client_cn)");
  }
  refuse(certificates_ ? "authentication required: send 'authorization: Bearer <API key>' or a "
                         "client certificate"
                       : "authentication required: send 'authorization: Bearer <API key>' (gRPC "
                         "metadata or HTTP header)");
}

PrincipalPtr Authenticator::admit(const PresentedCredentials& presented) {
  PrincipalPtr principal;
  try {
    principal = authenticate(presented);
  } catch (const ApiError& refusal) {
    log::warn("auth.refused", {{"reason", refusal.what()}});  // once per call, never the key
    throw;
  }
  rate_.take(*principal);
  return principal;
}

}  // namespace agentfense::server
