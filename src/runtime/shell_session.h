// A persistent shell session (DESIGN.md "Runtimes" -> Sessions): one bash inside one
// long-lived sandbox, running command after command in the same shell process, so the
// cwd, exported and unexported variables and functions carry over. Each exec reports
// the exact exit code with stdout and stderr kept apart; completion is signalled on a
// private status channel (session_channel.h), never by markers in the output.
//
// Timeouts kill the command, not the session: the shell is told to abandon the command
// (the rest of the command list is skipped, builtin loops included) and every process
// of the sandbox except the shell and bwrap's is SIGKILLed (background jobs too). A
// shell that does not come back even then is replaced by a fresh shell in a new sandbox
// started in the last known cwd, which the result's stderr says.
//
// The loop above is every runtime's (session_driver.h); this file is only how the bwrap
// runtime reaches its shell: a ShellProcess's pipes and socket pair.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "runtime/exec.h"
#include "runtime/session_driver.h"

namespace agentfense::runtime {

struct SessionSpec {
  std::string shell = "/bin/bash";         // bash, /bin/bash or /usr/bin/bash: the driver
                                           // loop needs bash (execute_only_shell.h)
  std::map<std::string, std::string> env;  // on top of the clean base env
  int workspace_fd = -1;                   // O_PATH fd of the mountpoint; -1 = none
  std::string workdir = "/workspace";      // where the shell starts
  Limits limits;                           // for the whole session
  std::shared_ptr<const SandboxCgroup> cgroup_parent;  // as in ExecSpec
  std::size_t output_limit = 16 << 20;                 // per stream and command
  bool network = false;
  uid_t host_uid = 0;  // as in ExecSpec: 0 = default_sandbox_ids()
  gid_t host_gid = 0;
};

class ShellSession {
 public:
  using OutputCallback = SessionOutput;

  // Starts the shell; throws UserError for a bad spec, SystemError when the sandbox or
  // the shell cannot start.
  explicit ShellSession(SessionSpec spec);
  ShellSession(const ShellSession&) = delete;
  ShellSession& operator=(const ShellSession&) = delete;

  // Runs `command` (any bash text: several lines, heredocs, comments) in the shell.
  // timeout 0 = none. `on_output` gets every captured chunk as it arrives, instead of
  // the result (its stdout_data/stderr_data then stay empty, as ExecSpec::on_output); all
  // output written before the command finished is delivered before exec returns. Concurrent
  // calls run one after the other. A command that ends the shell (`exit 3`) returns its
  // status and closes the session. Throws UserError("session closed") once closed.
  // `cancel_fd` (optional, as ExecSpec::cancel_fd): once readable, the command is
  // abandoned like on a timeout (the session lives on) and the result says cancelled;
  // a command whose cancel_fd is readable before it starts never runs.
  ExecResult exec(const std::string& command, std::chrono::milliseconds timeout,
                  const OutputCallback& on_output = {}, int cancel_fd = -1) {
    return driver_.exec(command, timeout, on_output, cancel_fd);
  }

  bool alive() const { return driver_.alive(); }
  // Kills every process the session started and reaps them. Aborts a running exec
  // (it returns with the shell's death), then waits for it. Idempotent.
  void close() { driver_.close(); }

  // For diagnostics and tests: the host pid of the current shell and the cgroup
  // directories holding the session (both empty/-1 once closed).
  pid_t shell_pid() const { return driver_.shell_pid(); }
  std::vector<std::string> cgroup_paths() const { return driver_.cgroup_paths(); }

 private:
  const SessionSpec spec_;
  SessionDriver driver_;  // after spec_, which its shells are started from
};

}  // namespace agentfense::runtime
