// The server's TLS certificates (config server.tls), renewable in place for both
// transports:
//
//   - The certificate chain, key and client CA are read into memory and checked (the key
//     must be the certificate's). A renewal is taken only as a whole and only when it
//     checks out: a half-renewed set (a new certificate before its key) is refused with a
//     log line and the previous set stays in use. At start-up it is an error naming the
//     file.
//   - REST (httplib::SSLServer over OpenSSL): every new connection picks the latest set
//     in its handshake (OpenSSL's certificate callback), so a reload takes effect for the
//     next connection, never disturbing open ones.
//   - gRPC: its file-watcher certificate provider reads a mirror of the latest set, which
//     this class writes (one PEM holding key and chain, replaced by rename) after each
//     successful load, so gRPC too only ever sees a matching pair, within
//     kTlsReloadSeconds.
//
// reload() re-reads the files when they changed (or always, when forced: SIGHUP).
// Client certificates (server.tls.client_ca) are requested, optional, and must verify
// when presented.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "server/tls_files.h"

namespace agentfense::server {

class TlsCertificates {
 public:
  // Loads `files` and writes the mirror for gRPC under `mirror_dir` (created, 0700).
  // UserError naming the file and the problem when they are unusable.
  TlsCertificates(TlsFiles files, std::string mirror_dir);
  ~TlsCertificates();
  TlsCertificates(const TlsCertificates&) = delete;
  TlsCertificates& operator=(const TlsCertificates&) = delete;

  // What gRPC's file watcher reads: the mirror of the latest good set.
  TlsFiles mirrored() const;

  // Sets up a REST server context (httplib::SSLServer's set-up callback).
  bool configure(SSL_CTX& context);

  // Re-reads the files if they changed since the last load or attempt, or always when
  // `force`. True when a new set is in use.
  bool reload(bool force);

  // The subject CN of the client certificate `ssl` verified, if any.
  static std::optional<std::string> verified_client_cn(const SSL* ssl);

  struct Material;  // one loaded set

 private:
  struct Stamps;  // identity of the files' contents (file_stamp.h)
  static int select_certificate(SSL* ssl, void* self);
  std::shared_ptr<const Material> current() const;
  void write_mirror(const Material& material) const;

  const TlsFiles files_;
  const std::string mirror_dir_;
  std::mutex reload_mutex_;            // one reload at a time
  std::unique_ptr<Stamps> attempted_;  // the files as last loaded or tried
  mutable std::mutex mutex_;           // guards material_, held only to copy the pointer
  std::shared_ptr<const Material> material_;
};

}  // namespace agentfense::server
