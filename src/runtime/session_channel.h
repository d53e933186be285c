// The bwrap runtime's private channel between the supervisor and a session's shell:
// the driver loop (session_driver_script.h) reads commands from a command socket and
// reports completion on a status socket, in session_protocol.h's format.
//
// Who may speak on it (docs/security.md, "Sessions"): the command text is the caller's
// own and runs in the shell; everything the command starts is untrusted and must not be
// able to report a result. So:
//  - the status socket carries SCM_CREDENTIALS: the kernel names the host pid of each
//    message's writer, and once the shell has said "R", bytes from any other process
//    are dropped before they are parsed;
//  - both directions are sockets: a pipe end can be reopened for writing through
//    /proc/<pid>/fd/N, a socket cannot;
//  - the shell runs from an execute-only binary (execute_only_shell.h), so it is not
//    dumpable: no other process can reach its fds or memory;
//  - the shell closes its channel fds around every command, so nothing it starts
//    inherits them;
//  - each command carries a fresh random nonce that its report must echo
//    (session_protocol.h).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "runtime/session_protocol.h"

namespace agentfense::runtime {

// argv for running the driver loop in the bash at `shell_exe` (a path inside the
// sandbox) with the two child-side fds; the loop first closes `exe_fd` (the fd
// shell_exe names, or -1) and cd's to `start_dir` unless it is empty.
std::vector<std::string> session_driver_argv(const std::string& shell_exe, int command_fd,
                                             int status_fd, const std::string& start_dir,
                                             int exe_fd);

class SessionChannel {
 public:
  // Both socket pairs, close-on-exec; our ends non-blocking.
  static SessionChannel create();

  // The ends to pass into the sandbox; close them once it has started.
  int child_command_fd() const { return command_child_.get(); }
  int child_status_fd() const { return status_child_.get(); }
  void close_child_ends();

  int command_fd() const { return command_write_.get(); }
  int status_fd() const { return status_read_.get(); }

  // From now on only bytes written by host pid `shell` count; everything else is
  // dropped unread (counted in dropped_writes()).
  void trust_only(pid_t shell) { trusted_sender_ = shell; }
  std::size_t dropped_writes() const { return dropped_writes_; }

  // Reads what the status socket holds (non-blocking) and returns the first complete
  // message, if any. Further messages stay buffered for the next call.
  std::optional<StatusMessage> receive();
  // The shell side has closed the socket (every process holding it is gone).
  bool closed() const { return closed_; }

 private:
  std::optional<StatusMessage> take_buffered();

  UniqueFd command_write_, command_child_;
  UniqueFd status_read_, status_child_;
  StatusBuffer buffer_;
  pid_t buffer_sender_ = -1;
  pid_t trusted_sender_ = -1;
  std::size_t dropped_writes_ = 0;
  bool closed_ = false;
};

}  // namespace agentfense::runtime
