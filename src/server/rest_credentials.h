// What an HTTP client presented to authenticate (call_gate.h): its Authorization header
// (sent twice: an empty, hence malformed, one) and, over TLS, the subject CN of the client
// certificate OpenSSL verified.
#pragma once

#include <httplib.h>

#include "server/call_gate.h"

namespace agentfense::server {

PresentedCredentials PresentedBy(const httplib::Request& request);

}  // namespace agentfense::server
