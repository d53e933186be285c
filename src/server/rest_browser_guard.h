// Web pages must not drive the REST API. A browser attaches no API key, but it does
// reach a server without keys (the default, on loopback) and sends client certificates
// by itself; a page the developer opens can then
// - rebind its own DNS name to 127.0.0.1 and read every codebase, .env included, as a
//   same-origin page (the request's Host names the attacker's domain), or
// - POST a "simple" cross-site request (text/plain) that creates and runs things.
// So a REST request is refused (403 PERMISSION_DENIED) when its Host is a name this
// server was not told it has (IP literals and localhost always pass), or when it comes
// from a web page (an Origin header, or Sec-Fetch-Site naming another site) of an origin
// not listed. Other clients (curl, the SDK, any HTTP library) send neither header.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace agentfense::server {

struct BrowserPolicy {
  std::vector<std::string> allowed_hosts;    // server.allowed_hosts; "*" = any
  std::vector<std::string> allowed_origins;  // server.allowed_origins; "*" = any
  // Rebinding needs a server that answers without credentials over plain HTTP: a page
  // has no API key, and over TLS the browser checks the certificate against the
  // attacker's name. So a server with keys or TLS answers any Host (remote clients such
  // as `agentfense mcp --server https://sandboxes.example:8080` name it), and only the
  // keyless plain one (the default, on loopback) checks it.
  bool check_host = true;
};

// Why the request must be refused, naming the header and the setting; nullopt to serve.
// `origin` and `fetch_site` are empty when the request does not carry them.
std::optional<std::string> refusal_for_browser(const BrowserPolicy& policy, const std::string& host,
                                               const std::string& origin,
                                               const std::string& fetch_site);

}  // namespace agentfense::server
