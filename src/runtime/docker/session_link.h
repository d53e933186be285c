// A docker session shell's private channel (the role session_channel.h plays for bwrap):
// one TCP connection on 127.0.0.1 *inside the container's network namespace*, which
// carries commands to the shell and its reports back ("R", "D<seq> <nonce> <code> <cwd>"),
// and two more on the same listener that are the shell's stdout and stderr
// (shell_output.h): the commands' output does not travel on the exec's pipes, which any
// process a command leaves behind could reopen for reading through /proc/self/fd/1.
//
// Why it cannot be reached by anything a command starts (docs/security.md, Sessions):
//  - we create the listening socket from the host, in the container's namespace, and
//    accept only a connection that first presents a fresh 128-bit token; the token reaches
//    the shell on its exec's stdin, which nothing else in the container can read (the
//    shell is not dumpable: its /proc/<pid>/fd is closed to other processes);
//  - after that one connection the listener is closed, so nobody can connect again;
//  - a socket cannot be reopened through /proc/<pid>/fd, ptrace and pidfd_getfd of the
//    non-dumpable shell are refused, and the shell closes the connection around every
//    command, so no command's process ever holds it.
// Bash reaches it with /dev/tcp (no unix-socket client exists in bash).
#pragma once

#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

#include "common/unique_fd.h"
#include "runtime/docker/container_init.h"
#include "runtime/session_channel.h"

namespace agentfense::runtime::docker {

class SessionLink {
 public:
  using Clock = std::chrono::steady_clock;

  // Listens on 127.0.0.1:<free port> in the network namespace of the container's init.
  static SessionLink listen(const ContainerInit& init);

  int port() const { return port_; }
  const std::string& token() const { return token_; }

  // Waits for the shell's three connections, each presenting the token and its role
  // ("<token>" the channel, "<token> 1" stdout, "<token> 2" stderr; others are dropped),
  // then stops listening. Throws SystemError(ETIMEDOUT) at the deadline.
  void accept_shell(Clock::time_point deadline);

  // The shell's stdout (0) or stderr (1) connection, with what came after its token line.
  struct Output {
    UniqueFd fd;
    std::string head;
  };
  Output take_output(std::size_t which) { return std::move(outputs_.at(which)); }

  int fd() const { return connection_.get(); }
  // Sends one framed command; throws SystemError when the shell stops reading in time.
  void send(const std::string& frame, Clock::time_point deadline) const;
  // The first complete report the connection holds, if any (never blocks).
  std::optional<StatusMessage> receive();
  // The shell's side has closed the connection.
  bool closed() const { return closed_; }

 private:
  SessionLink(UniqueFd listener, int port, std::string token)
      : listener_(std::move(listener)), port_(port), token_(std::move(token)) {}

  UniqueFd listener_;
  int port_ = 0;
  std::string token_;
  UniqueFd connection_;
  std::array<Output, 2> outputs_;
  StatusBuffer buffer_;
  bool closed_ = false;
};

}  // namespace agentfense::runtime::docker
