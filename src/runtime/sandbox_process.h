// A running bwrap boundary, owned RAII-style: the launch half of run_sandboxed, shared
// with long-lived users (shell sessions) that talk to the process for longer than one
// command. Starting runs the whole chain (clean env -> /etc -> seccomp -> cgroup ->
// bwrap argv -> stdio pipes -> fork/exec_child); dropping the object kills every process
// the sandbox ever started (cgroup + bwrap) and reaps bwrap, so no error path leaves a
// sandbox running.
#pragma once

#include <sys/types.h>

#include <memory>
#include <vector>

#include "common/child_process.h"
#include "common/unique_fd.h"
#include "runtime/cgroup.h"
#include "runtime/exec.h"
#include "runtime/network_helper.h"

namespace agentfense::runtime {

class SandboxProcess {
 public:
  // Uses spec's argv, workspace_fd, workdir, env, limits, network, host ids and
  // inherit_stdio; stdin is a pipe when spec.stdin_data is set, /dev/null otherwise.
  // timeout, output_limit and on_output are the caller's business. `pass_fds` are
  // extra open fds the sandboxed command inherits under the same numbers (a private
  // channel to it); the caller closes its copies of them once start() returns.
  // Throws UserError for an invalid spec and SystemError when a setup step fails.
  // `own_cgroup` false: no cgroup of its own (and so no limits but the private /tmp's
  // size): for a boundary whose commands each get one (exec_launcher.h). Killing bwrap
  // still ends everything in it, through its pid namespace.
  // `workspace_later`: spec has no workspace_fd yet; /workspace is an empty directory
  // until one is attached (workspace_attach.h).
  static SandboxProcess start(const ExecSpec& spec, const std::vector<int>& pass_fds = {},
                              bool own_cgroup = true, bool workspace_later = false);

  SandboxProcess(SandboxProcess&&) noexcept = default;
  SandboxProcess& operator=(SandboxProcess&&) = delete;
  SandboxProcess(const SandboxProcess&) = delete;
  ~SandboxProcess();

  // The outer bwrap process (host pid, pidfd readable once it has exited).
  pid_t pid() const { return bwrap_.pid(); }
  int pidfd() const { return bwrap_.pidfd(); }
  // Holds every process of the sandbox; null when not root (no cgroups).
  SandboxCgroup* cgroup() const { return cgroup_.get(); }
  // What the memory and pids limits did to the sandbox so far; zero without a cgroup.
  LimitHits limit_hits() const { return cgroup_ ? cgroup_->limit_hits() : LimitHits{}; }
  // Host pid of the network helper (a member of the cgroup, not a command); -1 without
  // network.
  pid_t network_helper_pid() const { return network_ ? network_->pid() : -1; }

  // Our ends of the stdio pipes (invalid when inherited / stdin is /dev/null); each can
  // be taken once.
  UniqueFd take_stdin() { return std::move(stdin_write_); }
  UniqueFd take_stdout() { return std::move(stdout_read_); }
  UniqueFd take_stderr() { return std::move(stderr_read_); }

  // SIGKILLs every process of the sandbox without reaping bwrap (its pidfd then
  // becomes readable). Not thread-safe against terminate().
  void kill_tree();

  // Kills the whole tree (daemons included: the cgroup holds everything the command
  // ever started, and bwrap's death ends its pid namespace) and reaps bwrap. Returns
  // bwrap's exit status: the command's, or 128+N when killed by signal N; -1 when
  // already terminated.
  int terminate();

 private:
  SandboxProcess(ChildProcess bwrap, std::unique_ptr<SandboxCgroup> cgroup)
      : bwrap_(std::move(bwrap)), cgroup_(std::move(cgroup)) {}

  ChildProcess bwrap_;
  // Declared after bwrap_ so it is destroyed first; terminate() has emptied it by then.
  std::unique_ptr<SandboxCgroup> cgroup_;
  std::unique_ptr<NetworkHelper> network_;
  UniqueFd stdin_write_, stdout_read_, stderr_read_;
  int exit_status_ = -1;
};

}  // namespace agentfense::runtime
