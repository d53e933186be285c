// One-shot commands of a long-lived sandbox without a new boundary each: a small
// launcher (agentfense-launcher, launcher_protocol.h) runs inside one bubblewrap
// boundary started with the sandbox's own settings, and each command is a process it
// forks there. What a command gets is what run_sandboxed gives it - the same namespaces,
// ids, seccomp filter, no capabilities, clean environment, stdio, workdir - and what
// it reports is the same: exit code or 128+signal, timeout and cancel kill the whole
// tree, output caps, oom_killed and pids_limit_reached from a cgroup of its own.
//
// Cost: the boundary's start-up is paid once; a command costs a fork, an exec and a
// cgroup. Moving a process between cgroups waits for an RCU grace period (several ms
// on an idle host), so that happens ahead of time: a "spare" (the forked child, not yet
// running anything) is moved into a fresh cgroup with the sandbox's limits while the
// previous command runs or the sandbox idles, and a command only hands it its argv.
//
// Differences from run_sandboxed (docs/security.md): the sandbox's commands share the
// boundary's pid, IPC and mount namespaces, so commands running at the same time can
// see and signal each other (as in a session); /tmp, /dev/shm and SysV IPC objects are
// emptied whenever no command is running, so one command still finds nothing of the
// previous one. The pids limit counts the command's processes plus 2, the bubblewrap
// processes a command of its own would have.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.h"
#include "runtime/cgroup.h"
#include "runtime/exec.h"
#include "runtime/sandbox_process.h"

namespace agentfense::runtime {

// Where agentfense-launcher is: next to the running executable. Empty when missing.
std::string launcher_program_path();

class ExecLauncher {
 public:
  // Starts the boundary with the launcher in it for commands like `base` (its workspace,
  // limits, host ids; no network, no inherited stdio). Throws SystemError when the
  // launcher program is missing or does not start.
  static std::unique_ptr<ExecLauncher> start(const ExecSpec& base);
  // The same before the workspace exists (base.workspace_fd is ignored): the boundary
  // starts, the launcher says hello and its first spare is forked and moved into its
  // cgroup, all while the fs process is still mounting; run() refuses every command
  // until attach_workspace() has put the mount at /workspace (workspace_attach.h).
  static std::unique_ptr<ExecLauncher> start_before_workspace(const ExecSpec& base);
  // Attaches the workspace (O_PATH fd of the mount); from then on the launcher fits
  // commands with that workspace_fd. Throws SystemError; the launcher is then of no use.
  // Not concurrent with fits() (its caller serializes them).
  void attach_workspace(int workspace_fd);
  bool awaiting_workspace() const { return awaiting_workspace_; }
  ~ExecLauncher();
  ExecLauncher(const ExecLauncher&) = delete;
  ExecLauncher& operator=(const ExecLauncher&) = delete;

  // Whether `spec` can run here: the same workspace, limits, ids and network as `base`.
  bool fits(const ExecSpec& spec) const;

  // run_sandboxed's contract. Returns nullopt, without having started anything, when the
  // launcher is gone (killed by a command, say): the caller starts a new one or falls
  // back to run_sandboxed. Throws UserError for an invalid spec.
  std::optional<ExecResult> run(const ExecSpec& spec);

  bool alive() const;
  pid_t pid() const { return launcher_pid_; }  // host pid (tests)

 private:
  struct Spare;
  explicit ExecLauncher(const ExecSpec& base);
  static std::unique_ptr<ExecLauncher> launch(const ExecSpec& base, bool workspace_later);
  void prepare_loop();
  std::unique_ptr<Spare> prepare_spare();
  std::unique_ptr<Spare> take_spare();
  void clean_if_idle();

  ExecSpec base_;
  std::optional<SandboxProcess> boundary_;
  UniqueFd control_;
  pid_t launcher_pid_ = -1;
  std::atomic<bool> awaiting_workspace_{false};

  mutable std::mutex mu_;  // everything below, and the control socket
  std::condition_variable changed_;
  std::unique_ptr<Spare> spare_;
  std::vector<std::unique_ptr<Spare>> retired_;  // finished commands' cgroups to remove
  bool broken_ = false;
  bool stopping_ = false;
  int running_ = 0;  // commands in flight
  bool cleaning_ = false;
  bool dirty_ = false;  // a command ran since the last clean
  std::thread preparer_;
};

}  // namespace agentfense::runtime
