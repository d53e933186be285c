// The TLS files a transport serves with: a certificate chain and its private key (PEM,
// possibly one file holding both), and optionally the CA that client certificates must
// chain to. The server reads config server.tls through TlsCertificates
// (tls_certificates.h), which checks each renewal and hands gRPC a mirror of the last
// good set; gRPC's file watcher re-reads that every kTlsReloadSeconds.
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
