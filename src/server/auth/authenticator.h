// The CallGate of a server that requires authentication (config/auth_settings.h): a call
// presents an API key ("authorization: Bearer KEY", gRPC metadata or HTTP header) or a
// client certificate verified against server.tls.client_ca whose CN a key entry maps.
// A key that is sent decides, even next to a certificate: a wrong key is refused. Then
// the principal's request rate applies (request_rate.h).
//
// Refusals are UNAUTHENTICATED (HTTP 401) with reason UNAUTHENTICATED and a message
// saying what was missing or wrong; they never repeat the key, and are logged (with
// the key id of a known key, never the key).
#pragma once

#include "server/auth/key_ring.h"
#include "server/auth/request_rate.h"
#include "server/call_gate.h"

namespace agentfense::server {

class Authenticator final : public CallGate {
 public:
  // `certificates`: client certificates are requested (server.tls.client_ca).
  Authenticator(const KeyRing& keys, bool certificates)
      : keys_(keys), certificates_(certificates) {}

  PrincipalPtr authenticate(const PresentedCredentials& presented) const override;
  PrincipalPtr admit(const PresentedCredentials& presented) override;

 private:
  const KeyRing& keys_;
  const bool certificates_;
  RequestRate rate_;
};

// The CallGate of a server without authentication: every call is local_principal().
class OpenGate final : public CallGate {
 public:
  PrincipalPtr authenticate(const PresentedCredentials&) const override {
    return local_principal();
  }
  PrincipalPtr admit(const PresentedCredentials&) override { return local_principal(); }
};

}  // namespace agentfense::server
