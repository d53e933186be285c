// The control socket of a live mount: a unix SOCK_STREAM socket through which the
// supervisor reaches the fs process that owns the sandbox's write layer. Newline-framed:
// one request line in, one response line out, any number per connection; each
// connection is served on its own thread. Only root can connect (mode 0600, and the
// supervisor keeps it in a root-only directory).
#pragma once

#include <atomic>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "common/unique_fd.h"

namespace agentfense::fs {

class ControlServer {
 public:
  // Turns one request line into one response line; must not throw.
  using Handler = std::function<std::string(std::string_view)>;

  // Listens at `socket_path`, replacing a stale socket left by a crashed process; throws
  // SystemError.
  ControlServer(std::string socket_path, Handler handler);
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;
  // Stops accepting, ends every connection once its current request is answered, and
  // removes the socket.
  ~ControlServer();

 private:
  // One per connection; its thread marks it finished as its last step, and the acceptor
  // joins finished ones before it starts another: an exited thread that is never joined
  // keeps its 8 MiB stack mapped, and the supervisor opens a connection per call beyond
  // its pool (unbounded growth of the fs process before, outside the sandbox's limits).
  struct Connection {
    std::thread thread;
    std::atomic<bool> finished{false};
  };

  void accept_loop();
  void join_finished_connections();  // caller holds mu_
  void serve_connection(UniqueFd connection);
  // Waits until `fd` is readable; false once the server is stopping.
  bool wait_readable(int fd) const;

  const std::string path_;
  const Handler handler_;
  UniqueFd listen_fd_;
  UniqueFd stop_read_;  // readable (for every poller at once) once stopping
  UniqueFd stop_write_;
  std::mutex mu_;
  std::list<Connection> connections_;  // guarded by mu_; a list: threads hold their entry
  std::thread acceptor_;
};

}  // namespace agentfense::fs
