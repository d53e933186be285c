// httplib's server with each connection served by a loop of ours (httplib 0.11, Debian
// 12), for two things httplib does not do:
// - A request's line and headers are bounded together (kMaxHeadBytes). httplib reads a
//   line until its newline with no bound: a client sending a request line or a header
//   with no end grew `agentfense mcp --http` by every byte it sent (300 MiB for 300 MiB,
//   on any number of connections), before any check of a request could run.
// - A handler can end the connection once its answer is sent (close_after_answer): a
//   request refused before its body was read (no token, a body too large) leaves that
//   body in the socket, where httplib would take it for the next request.
// Reads and writes wait at most 5 s each (httplib's defaults), a kept-alive connection
// waits 5 s for its next request, and one connection serves at most 100 requests.
#pragma once

#include <httplib.h>

#include <cstddef>

namespace agentfense::cli::mcp {

class BoundedHttpServer final : public httplib::Server {
 public:
  // The most a request's line and headers may hold together.
  static constexpr std::size_t kMaxHeadBytes = 64 * 1024;

  // From a handler (or the pre-routing handler), on the thread serving the request: the
  // connection ends after this answer, whatever is left unread.
  static void close_after_answer();

 private:
  bool process_and_close_socket(socket_t sock) override;
};

}  // namespace agentfense::cli::mcp
