// A docker session shell's stdout and stderr, as we read them: two TCP connections on the
// container's loopback (session_link.h), not the exec's pipes.
//
// Why not the pipes: every process a session command starts inherits the shell's stdout,
// and containerd gives the exec's pipes to the exec's user, so a background job could
// reopen /proc/self/fd/1 for *reading* and take the session's later output, fences
// included (attack sweep F4). A socket cannot be reopened through /proc (ENXIO), and
// what the shell sends on it cannot be read back from the shell's side: a job that kept
// the socket can still write to it (its output then opens a later result, as under
// bwrap), but it can neither read what later commands print nor learn their fences.
#pragma once

#include <array>
#include <cstddef>
#include <functional>
#include <string_view>

#include "common/unique_fd.h"
#include "runtime/docker/session_link.h"
#include "runtime/exec.h"

namespace agentfense::runtime::docker {

class ShellOutput {
 public:
  using Sink = std::function<void(Stream, std::string_view)>;

  // Takes the shell's two output connections from `link`; what came with their token
  // lines is delivered first.
  ShellOutput(SessionLink& link, Sink sink);

  // The fds to poll (stdout, stderr); -1 once one has reached its end.
  std::array<int, 2> fds() const { return {sockets_[0].get(), sockets_[1].get()}; }
  // Reads once from socket `index` (0 stdout, 1 stderr) into the sink, without waiting.
  void read_from(std::size_t index);
  // Reads what both sockets hold now.
  void read_available();
  // Every writer of both is gone.
  bool ended() const { return !sockets_[0] && !sockets_[1]; }

 private:
  // False when nothing was read (would block, or the end: the fd is then closed).
  bool read_once(std::size_t index);

  std::array<UniqueFd, 2> sockets_;
  Sink sink_;
};

}  // namespace agentfense::runtime::docker
