#include "server/auth/authenticator.h"

#include "common/bearer_token.h"
#include "common/log.h"
#include "server/api.h"
#include "server/auth/api_key.h"

namespace agentfense::server {
namespace {

[[noreturn]] void refuse(const std::string& why) {
  throw ApiError(StatusCode::UNAUTHENTICATED, why, kReasonUnauthenticated);
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
