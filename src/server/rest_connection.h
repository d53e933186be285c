// How the REST gateway serves one accepted connection. httplib 0.11 (Debian 12) parses
// the requests and runs the routes; the socket is ours. httplib's own socket loop bounds
// each read (5 s) but not a whole request head, so a client sending one header byte
// every few seconds held a worker for as long as it liked: 640 such connections (the
// 128 workers and the 512 queued, rest_connection_pool.h) stopped REST for every tenant,
// before any credential was read. Here the TLS handshake must complete within `head` of
// the connection being accepted, and each request's line and headers arrive within
// `head` of the handshake (the first) or of its first byte (later ones, after an idle
// keep-alive wait), holding at most `max_head_bytes`. An answer's client must take some of it
// within each `write` (5 s) of waiting, and keep up a minimum rate too: a client taking 4 KiB every
// 3 s kept 16 unread diffs of 17 MB (1 GB) in the server for as long as it liked, never 5 s
// without progress (sweep T). A body
// must keep up a minimum rate: after a grace period, `body_min_rate` bytes per second on average
// since the head ended, else the connection is dropped (one byte every few seconds held a worker
// for as long as the client liked, authenticated or not: attack sweep K). A refused request's body
// is read only briefly (limit_request_body_wait). A connection that waited in the queue for a
// worker has used that time of its deadline (rest_connection_pool.h accepted_at), so slow ones
// cannot queue up. Sockets are non-blocking throughout, so a TLS record that arrives in part cannot
// block a read.
#pragma once

#include <httplib.h>

#include <chrono>
#include <cstddef>
#include <functional>

#include "common/api_error.h"

namespace agentfense::server {

struct ConnectionTimeouts {
  std::chrono::milliseconds head{10'000};        // TLS handshake; each request line + headers
  std::chrono::milliseconds read{5'000};         // each wait for body bytes
  std::chrono::milliseconds write{5'000};        // waiting to send, the client taking none
  std::chrono::milliseconds keep_alive{5'000};   // idle between two requests
  std::chrono::milliseconds body_grace{10'000};  // a body's first stretch, at any rate
  std::size_t body_min_rate = 16 * 1024;         // bytes per second on average after it
  // An answer's client must take it at `answer_min_rate` on average over the time the
  // server waits for it (waits for room in the socket), after `answer_grace` of waits at
  // any rate. Time the server itself takes (a stream's command writing nothing) is not
  // counted.
  std::chrono::milliseconds answer_grace{10'000};
  std::size_t answer_min_rate = 16 * 1024;
  std::size_t max_requests = 100;  // on one connection
  // A request's line and headers together, and each line of a chunked body's framing.
  // httplib reads a line until its newline with no bound: one connection without
  // credentials sending a header that never ended grew the server by all it sent until
  // the head deadline (4 connections: +440 MiB in 6 s). Past it the request is answered
  // 400 (a head) or fails as a body cut short, and the connection is closed.
  std::size_t max_head_bytes = 64 * 1024;
};

// From a route (on the worker serving the request): what is left of the request's body
// must arrive within `wait`, if that is sooner than its rate allows. A refusal reads the
// body a client is still sending only so that the answer reaches it.
void limit_request_body_wait(std::chrono::milliseconds wait);

// What a route answers when the request's body ended early: DEADLINE_EXCEEDED when its
// rate ran out, INVALID_ARGUMENT when its framing did not parse (the connection then
// closes), else CANCELLED (the client went away).
ApiError request_body_incomplete();

// From a route: the connection ends after this request's answer, whatever is left of its
// body unread (a body whose framing cannot be trusted).
void close_connection_after_request();

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
