// `agentfense audit --server`: reads a sandbox's trail from the server's REST route
// GET /v1/sandboxes/{id}/audit (NDJSON, optionally followed) through the CLI's REST
// client (server_client.h: http:// or https://, the API key as a Bearer token).
#pragma once

#include <functional>
#include <string>

#include "audit/timeline.h"

namespace agentfense::cli {

struct ServerTrailQuery {
  std::string base_url;  // http://HOST:PORT or https://HOST:PORT
  std::string sandbox;
  std::string api_key;
  std::string ca_cert;  // PEM file trusted for https:// (default: the system's roots)
  audit::Filter filter;
  bool follow = false;
};

// Calls `sink` with each line; throws UserError/SystemError naming what failed.
void fetch_server_trail(const ServerTrailQuery& query,
                        const std::function<void(const std::string&)>& sink);

}  // namespace agentfense::cli
