#include "server/config/auth_settings.h"

#include <arpa/inet.h>

#include "common/errors.h"
#include "server/config/address_syntax.h"

namespace agentfense::server {
namespace {

bool credentials_configured(const Config& config) {
  return !config.auth.keys.empty() || !config.auth.keys_file.empty() ||
         !config.server.tls.client_ca.empty();
}

void check_exposure(const char* key, const std::string& address) {
  if (is_loopback_address(address)) return;
  throw UserError(std::string(key) + " '" + address +
                  "' accepts connections from other hosts, but no authentication is "
                  "configured: add API keys (auth.keys_file, managed with `agentfense server "
                  "keys add`) or server.tls.client_ca, or set auth.mode: none to serve a "
                  "trusted network without authentication");
}

}  // namespace

bool is_loopback_address(const std::string& listen_address) {
  const std::string host(listen_host(listen_address));
  if (host == "localhost") return true;
  in_addr v4{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, host.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

bool authentication_required(const Config& config) {
  switch (config.auth.mode) {
    case AuthMode::kNone:
      return false;
    case AuthMode::kRequired:
      return true;
    case AuthMode::kDefault:
      break;
  }
  return credentials_configured(config);
}

void check_auth_settings(const Config& config) {
  const Config::Server::Tls& tls = config.server.tls;
  if (tls.cert.empty() != tls.key.empty())
    throw UserError("server.tls needs both cert and key (only " +
                    std::string(tls.cert.empty() ? "key" : "cert") + " is set)");
  if (!tls.client_ca.empty() && !tls.enabled())
    throw UserError("server.tls.client_ca needs server.tls.cert and server.tls.key");
  if (config.auth.mode == AuthMode::kNone && credentials_configured(config))
    throw UserError(
        "auth.mode: none contradicts the credentials configured (auth.keys, auth.keys_file "
        "or server.tls.client_ca): remove them, or remove auth.mode to require them");
  if (config.auth.mode == AuthMode::kRequired && !credentials_configured(config))
    throw UserError(
        "auth.mode: required, but no credentials are configured: set auth.keys_file (managed "
        "with `agentfense server keys add`), auth.keys or server.tls.client_ca");
  if (config.auth.mode != AuthMode::kDefault || authentication_required(config)) return;
  check_exposure("server.grpc_addr", config.server.grpc_addr);
  check_exposure("server.http_addr", config.server.http_addr);
}

std::string describe_auth_mode(const Config& config) {
  if (authentication_required(config)) return "required";
  return config.auth.mode == AuthMode::kNone ? "none" : "none (loopback only)";
}

}  // namespace agentfense::server
