// The TLS files both transports serve with (config server.tls): a certificate chain and
// its private key (PEM), and optionally the CA that client certificates must chain to.
// Both transports re-read them when they change (every kTlsReloadSeconds, and the REST
// gateway also on SIGHUP), so a renewed certificate needs no restart.
#pragma once

#include <string>

namespace agentfense::server {

inline constexpr unsigned kTlsReloadSeconds = 1;

struct TlsFiles {
  std::string cert;
  std::string key;
  std::string client_ca;  // empty: client certificates are not requested
  bool enabled() const { return !cert.empty(); }
};

}  // namespace agentfense::server
