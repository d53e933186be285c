// The private channel between the supervisor and a session's shell: a driver loop
// (bash) that reads NUL-terminated commands from a command pipe and `eval`s them in the
// shell process itself (so cwd, variables and functions persist), then reports
// completion on a status socket - never by markers in stdout, which belongs to the
// command.
//
// Wire format, both directions NUL-terminated:
//   command pipe  (us -> shell): "<seq>\n<command>"
//   status socket (shell -> us): "R" once the loop is ready, then per command
//                                 "D<seq> <exit code> <cwd>"
// The status socket carries SCM_CREDENTIALS, so the kernel tells us the host pid of
// the shell that wrote a message (its $$ is a pid-namespace pid, useless outside).
//
// Not a security boundary: the command runs in this very shell and could write to the
// channel; the sequence number only keeps a confused or stale report from being taken
// as the current command's.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/unique_fd.h"

namespace agentfense::runtime {

// argv for running the driver loop in `shell` (bash) with the two child-side fds;
// the loop first cd's to `start_dir` unless it is empty.
std::vector<std::string> session_driver_argv(const std::string& shell, int command_fd,
                                             int status_fd, const std::string& start_dir);

// The framed bytes to write to the command pipe.
std::string frame_command(uint64_t seq, const std::string& command);

struct StatusMessage {
  enum class Kind { kReady, kDone } kind = Kind::kReady;
  uint64_t seq = 0;
  int exit_code = 0;
  std::string cwd;
  pid_t sender_pid = -1;  // host pid of the writer (SCM_CREDENTIALS)
};

class SessionChannel {
 public:
  // Both fd pairs, close-on-exec; our ends non-blocking.
  static SessionChannel create();

  // The ends to pass into the sandbox; close them once it has started.
  int child_command_fd() const { return command_child_.get(); }
  int child_status_fd() const { return status_child_.get(); }
  void close_child_ends();

  int command_fd() const { return command_write_.get(); }
  int status_fd() const { return status_read_.get(); }

  // Reads what the status socket holds (non-blocking) and returns the first complete
  // message, if any. Further messages stay buffered for the next call.
  std::optional<StatusMessage> receive();
  // The shell side has closed the socket (every process holding it is gone).
  bool closed() const { return closed_; }

 private:
  std::optional<StatusMessage> take_buffered();

  UniqueFd command_write_, command_child_;
  UniqueFd status_read_, status_child_;
  std::string buffer_;
  pid_t buffer_sender_ = -1;
  bool closed_ = false;
};

}  // namespace agentfense::runtime
