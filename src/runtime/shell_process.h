// ShellProcess: one running shell of a session, the driver loop (session_channel.h) in
// one sandbox. The session itself (ShellSession, shell_session.h) outlives it: a stuck
// shell is replaced by a new ShellProcess in the last working directory. This holds
// what the session needs to steer one: dups of its stdio for a per-command IoPump, the
// channel, and the host pids that make up "the shell itself" (bwrap's two processes and
// bash) as opposed to the commands it runs.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "runtime/exec.h"
#include "runtime/sandbox_process.h"
#include "runtime/session_channel.h"

namespace agentfense::runtime {

class ShellProcess {
 public:
  // Starts `spec` (argv = the shell binary; it is replaced by the driver's argv) and
  // waits until the loop reports ready. `start_dir` may be empty. Throws SystemError
  // with the sandbox's stderr when the shell dies or does not become ready in time.
  static std::unique_ptr<ShellProcess> start(const ExecSpec& spec, const std::string& start_dir,
                                             std::chrono::milliseconds ready_timeout);

  SessionChannel& channel() { return channel_; }
  // New non-blocking fds on the shell's stdout/stderr/command pipe, for one IoPump.
  UniqueFd dup_stdout() const;
  UniqueFd dup_stderr() const;
  UniqueFd dup_command() const;
  int pidfd() const { return process_.pidfd(); }
  pid_t shell_pid() const { return shell_pid_; }
  // What the shell wrote to stderr while starting (e.g. failing to cd to start_dir).
  const std::string& startup_stderr() const { return startup_stderr_; }
  std::vector<std::string> cgroup_paths() const;
  // What the memory and pids limits did to this shell's sandbox so far (cumulative over
  // its commands).
  LimitHits limit_hits() const { return process_.limit_hits(); }

  // Asks the shell to abandon the running command (SIGUSR1, see session_driver_script.cc).
  void interrupt_command() const;
  // SIGKILLs every process of the sandbox except the shell and bwrap's: the running
  // command, its children, background jobs. The shell then sees its foreground job die.
  // Returns false when there is no cgroup to find them (not root).
  bool kill_commands() const;
  // Ends the whole sandbox without reaping (see SandboxProcess::kill_tree).
  void kill_tree() { process_.kill_tree(); }
  // Ends the whole sandbox and reaps it: bwrap's exit status (= the shell's).
  int terminate() { return process_.terminate(); }

 private:
  ShellProcess(SandboxProcess process, SessionChannel channel)
      : process_(std::move(process)), channel_(std::move(channel)) {}
  void await_ready(std::chrono::milliseconds ready_timeout);

  SandboxProcess process_;
  SessionChannel channel_;
  UniqueFd stdout_, stderr_;
  pid_t shell_pid_ = -1;
  UniqueFd shell_pidfd_;           // signals reach this shell even if its pid were recycled
  std::vector<pid_t> shell_pids_;  // the shell and its ancestors up to bwrap
  std::string startup_stderr_;
};

}  // namespace agentfense::runtime
