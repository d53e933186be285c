// Cancels a CallContext when the HTTP client of a request closes its connection while
// the request's command runs (`timeout 3 curl .../exec`, a killed client, a dropped
// keep-alive connection). A closed client sends FIN, so the server's end of the socket
// reports POLLRDHUP; a helper thread waits for that.
//
// httplib 0.11 never hands a handler its socket, so the watch finds it among this
// process's descriptors by the addresses httplib reports for the request (local port,
// peer address and port: unique among open TCP connections) and polls a dup of it, so
// the socket cannot be closed and its number reused under the watch. The search runs
// on the helper thread, never delaying the request.
//
// A client that half-closes its sending side while waiting for the answer reads as gone
// too, as with common HTTP servers and proxies that abort on a client's FIN.
//
// The gateway stopping cancels the call the same way (`shutdown_fd`, readable once it
// stops): otherwise one open `audit?follow=true`, or an exec of `sleep 300`, kept the
// server from exiting after SIGTERM for as long as the client stayed.
#pragma once

#include <httplib.h>

#include <string>

#include "common/unique_fd.h"
#include "server/call_context.h"
#include "server/watch_thread.h"

namespace agentfense::server {

// The TCP connection a request arrived on, as httplib reports it.
struct HttpConnection {
  int local_port = -1;
  std::string remote_addr;
  int remote_port = -1;
};
HttpConnection ConnectionOf(const httplib::Request& request);

// A dup (close-on-exec) of this process's socket for `connection`; invalid when none
// matches (then the request's disconnect cannot be noticed).
UniqueFd FindConnectionSocket(const HttpConnection& connection);

class RestDisconnectWatch {
 public:
  // `shutdown_fd`: -1, or an fd that becomes readable (for good) when the gateway stops.
  RestDisconnectWatch(HttpConnection connection, CallContext& call, int shutdown_fd);

 private:
  WatchThread thread_;
};

}  // namespace agentfense::server
