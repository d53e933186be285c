// How the REST gateway serves one accepted connection. httplib 0.11 (Debian 12) parses
// the requests and runs the routes; the socket is ours. httplib's own socket loop bounds
// each read (5 s) but not a whole request head, so a client sending one header byte
// every few seconds held a worker for as long as it liked: 640 such connections (the
// 128 workers and the 512 queued, rest_connection_pool.h) stopped REST for every tenant,
// before any credential was read. Here the TLS handshake must complete within `head` of
// the connection being accepted, and each request's line and headers arrive within
// `head` of the handshake (the first) or of its first byte (later ones, after an idle
// keep-alive wait); the body and the answer stay bounded per read and per write. A
// connection that waited in the queue for a worker has used that time of its deadline
// (rest_connection_pool.h accepted_at), so slow ones cannot queue up. Sockets are
// non-blocking throughout, so a TLS record that arrives in part cannot block a read.
#pragma once

#include <httplib.h>

#include <chrono>
#include <cstddef>
#include <functional>

namespace agentfense::server {

struct ConnectionTimeouts {
  std::chrono::milliseconds head{10'000};       // TLS handshake; each request line + headers
  std::chrono::milliseconds read{5'000};        // each wait for body bytes
  std::chrono::milliseconds write{5'000};       // each wait to send answer bytes
  std::chrono::milliseconds keep_alive{5'000};  // idle between two requests
  std::size_t max_requests = 100;               // on one connection
};

// httplib's server with its connections served as above (plain HTTP).
class PlainRestServer final : public httplib::Server {
 public:
  explicit PlainRestServer(ConnectionTimeouts timeouts) : timeouts_(timeouts) {}

 private:
  bool process_and_close_socket(socket_t sock) override;
  ConnectionTimeouts timeouts_;
};

// The same over TLS; `setup` configures the context once (certificates, client CAs).
class TlsRestServer final : public httplib::SSLServer {
 public:
  TlsRestServer(const std::function<bool(SSL_CTX&)>& setup, ConnectionTimeouts timeouts)
      : httplib::SSLServer(setup), timeouts_(timeouts) {}

 private:
  bool process_and_close_socket(socket_t sock) override;
  ConnectionTimeouts timeouts_;
};

}  // namespace agentfense::server
