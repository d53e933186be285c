// Admission of one call by the transports (gRPC, REST), before any of the Api runs: who
// is calling (authentication) and whether it may call now (its request rate). The
// transports extract what the client presented; the gate decides. Without a gate (unit
// tests of the transports alone) calls are not authenticated at all.
#pragma once

#include <optional>
#include <string>

#include "server/principal.h"

namespace agentfense::server {

inline constexpr const char* kReasonUnauthenticated = "UNAUTHENTICATED";

struct PresentedCredentials {
  // The "authorization" header or metadata value as sent ("Bearer KEY"), if any.
  std::optional<std::string> authorization;
  // The subject CN of a client certificate the TLS layer verified against
  // server.tls.client_ca; never set for an unverified one.
  std::optional<std::string> certificate_cn;
};

class CallGate {
 public:
  virtual ~CallGate() = default;
  // The caller, or ApiError(UNAUTHENTICATED, reason kReasonUnauthenticated) naming
  // what was missing or wrong. Pure: the transports may ask early (before reading a
  // request body) and again at admission.
  virtual PrincipalPtr authenticate(const PresentedCredentials& presented) const = 0;
  // authenticate(), then one request of the caller's rate (ApiError RESOURCE_EXHAUSTED
  // naming quotas.requests_per_second when it is spent).
  virtual PrincipalPtr admit(const PresentedCredentials& presented) = 0;
};

}  // namespace agentfense::server
