// Whether the server authenticates its callers, and the start-up checks that keep a
// server from being exposed without it (DESIGN.md "Security model of the server"):
//
//   - auth.mode unset: authentication is required as soon as a credential source is
//     configured (auth.keys, auth.keys_file or server.tls.client_ca). With none, the
//     server runs without authentication, the local developer case, and then only on
//     loopback addresses: a grpc_addr or http_addr reachable from other hosts stops
//     start-up with one line saying how to configure keys.
//   - auth.mode: required: every call authenticates; a credential source must exist.
//   - auth.mode: none: no authentication on any address, the explicit opt-out for a
//     trusted network (the server logs a warning at start-up). Contradicts keys.
#pragma once

#include <string>

#include "server/config/config.h"

namespace agentfense::server {

// "127.0.0.1:9000", "[::1]:0", "localhost:8080": only this host can connect. An empty
// host (":9000"), 0.0.0.0, [::] and every other address or name are not loopback.
bool is_loopback_address(const std::string& listen_address);

// Every call must present an API key or a client certificate.
bool authentication_required(const Config& config);

// Throws UserError (one line) for TLS or auth settings that contradict each other, and
// for a listen address beyond loopback without authentication.
void check_auth_settings(const Config& config);

// "required", "none" or "none (loopback only)": the start-up log's auth.mode.
std::string describe_auth_mode(const Config& config);

}  // namespace agentfense::server
