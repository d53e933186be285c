#include "supervisor/mount_child.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <string>

#include "common/errors.h"
#include "common/unique_fd.h"
#include "runtime/child_exec.h"
#include "runtime/helper_env.h"
#include "supervisor/unmount.h"

namespace agentfense::supervisor {
namespace {

// How long the fs process gets to unmount after SIGTERM, and to go after SIGKILL.
constexpr std::chrono::seconds kStopGrace{5};

std::vector<std::string> mount_argv(const MountChildSpec& spec, int ready_fd) {
  std::vector<std::string> argv = {
      "agentfense", "mount", "--policy", spec.policy_json_file, "--state-dir", spec.state_dir,
      "--owner", std::to_string(spec.owner_uid) + ":" + std::to_string(spec.owner_gid),
      "--ready-fd", std::to_string(ready_fd),
      // Beneath a root-only directory: the sandbox's processes are all that reach it.
      "--shared"};
  for (const auto& [flag, value] :
       {std::pair{"--disk", spec.quota.bytes}, std::pair{"--disk-inodes", spec.quota.inodes}}) {
    argv.push_back(flag);
    argv.push_back(std::to_string(value));
  }
  if (!spec.audit_path.empty()) {
    argv.push_back("--audit");
    argv.push_back(spec.audit_path);
    argv.push_back("--audit-id");
    argv.push_back(spec.audit_sandbox.empty() ? "local" : spec.audit_sandbox);
    // Always: `mount` alone defaults to a bound, and 0 here means none.
    argv.push_back("--audit-max-bytes");
    argv.push_back(std::to_string(spec.audit_max_bytes));
  }
  if (!spec.control_socket.empty()) {
    argv.push_back("--control-socket");
    argv.push_back(spec.control_socket);
  }
  if (spec.prewarm) argv.push_back("--prewarm");
  argv.push_back(spec.base_dir);
  argv.push_back(spec.mountpoint);
  return argv;
}

// Runs in a vfork child (ChildProcess::spawn_vfork: the server's address space is large
// and copying it was most of the fs process's start): plain system calls only until exec.
ChildFailure exec_mount(const char* program, char* const* argv, int ready_fd, pid_t supervisor) {
  // If the supervisor dies (even by SIGKILL) the mount process gets SIGTERM and
  // unmounts cleanly; checking the parent afterwards closes the race with a supervisor
  // that died before the signal was armed.
  if (::prctl(PR_SET_PDEATHSIG, SIGTERM) < 0) return {"PR_SET_PDEATHSIG", errno};
  if (::getppid() != supervisor) return {"supervisor exited during mount set-up", ESRCH};
  // A blocked signal survives exec: the server blocks SIGTERM in every thread to
  // sigwait() for it, and a mount process inheriting that mask would never see its
  // parent-death SIGTERM and outlive a crashed server.
  sigset_t none;
  sigemptyset(&none);
  if (::sigprocmask(SIG_SETMASK, &none, nullptr) < 0) return {"sigprocmask", errno};
  // Nothing the supervisor opened (sockets, other sandboxes' fds) reaches the mount
  // process but the ready pipe.
  if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) return {"close_range", errno};
  if (::fcntl(ready_fd, F_SETFD, 0) < 0) return {"clear close-on-exec on the ready pipe", errno};
  // A fixed environment, never the supervisor's (the server's secrets, a CLI caller's
  // loader variables): see runtime/helper_env.h.
  ::execve(program, argv, runtime::helper_environment());
  return {"execve agentfense mount", errno};
}

}  // namespace

MountChild::MountChild(const MountChildSpec& spec, std::chrono::milliseconds ready_timeout)
    : mountpoint_(spec.mountpoint) {
  int fds[2];
  check_syscall(::pipe2(fds, O_CLOEXEC), "pipe");
  UniqueFd ready_read(fds[0]);
  UniqueFd ready_write(fds[1]);
  // Everything the child uses exists before fork.
  const runtime::CStringArray argv(mount_argv(spec, ready_write.get()));
  const std::string program = spec.program;
  const pid_t supervisor = ::getpid();
  const int ready_fd = ready_write.get();
  child_.emplace(ChildProcess::spawn_vfork(
      [&] { return exec_mount(program.c_str(), argv.get(), ready_fd, supervisor); }));
  ready_write.reset();  // the child's copy is the only one: its exit reads as EOF

  pollfd pfd{ready_read.get(), POLLIN, 0};
  const int rc = ::poll(&pfd, 1, static_cast<int>(ready_timeout.count()));
  char byte = 0;
  if (rc == 1 && ::read(ready_read.get(), &byte, 1) == 1) return;
  // The child exited (EOF) or hung: collect its status for the message, then clean up.
  const int status = stop();
  throw SystemError(
      "mount process did not become ready (exit status " + std::to_string(status) + ")",
      rc == 0 ? ETIMEDOUT : EIO);
}

int MountChild::stop() {
  if (!child_) return 0;
  // ESRCH (already exited) is fine: wait() still reaps it. The pid stays ours until then.
  (void)::kill(child_->pid(), SIGTERM);
  if (!exits_by(child_->pidfd(), std::chrono::steady_clock::now() + kStopGrace)) {
    child_->kill();
    // Stuck on its own mount: detaching it aborts what the process waits for.
    if (!exits_by(child_->pidfd(), std::chrono::steady_clock::now() + kStopGrace))
      detach_mount(mountpoint_);
  }
  const int status = child_->wait();
  child_.reset();
  // A killed daemon leaves the mount behind ("Transport endpoint is not connected"); a
  // clean one already unmounted and this fails with EINVAL, which is expected.
  detach_mount(mountpoint_);
  return status;
}

void MountChild::abort() {
  if (!child_) return;
  abort_fuse_connection(mountpoint_);
  child_->kill();
}

MountChild::~MountChild() {
  stop();
}

}  // namespace agentfense::supervisor
