#include "supervisor/mount_child.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "common/errors.h"
#include "common/unique_fd.h"
#include "runtime/helper_env.h"

namespace agentfense::supervisor {
namespace {

constexpr int kChildReadyFd = 3;

std::vector<std::string> mount_argv(const MountChildSpec& spec) {
  std::vector<std::string> argv = {
      "agentfense",  "mount",
      "--policy",    spec.policy_json_file,
      "--state-dir", spec.state_dir,
      "--owner",     std::to_string(spec.owner_uid) + ":" + std::to_string(spec.owner_gid),
      "--ready-fd",  std::to_string(kChildReadyFd)};
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

// Returns the exit status, or -1 if the child did not exit within `grace`.
int wait_for_exit(pid_t pid, std::chrono::milliseconds grace) {
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (true) {
    int status = 0;
    const pid_t got = ::waitpid(pid, &status, WNOHANG);
    if (got == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (got < 0 && errno != EINTR) return -1;
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace

MountChild::MountChild(const MountChildSpec& spec, std::chrono::milliseconds ready_timeout)
    : mountpoint_(spec.mountpoint) {
  int fds[2];
  check_syscall(::pipe2(fds, O_CLOEXEC), "pipe");
  UniqueFd ready_read(fds[0]);
  UniqueFd ready_write(fds[1]);
  const std::vector<std::string> args = mount_argv(spec);
  std::vector<char*> argv;
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);

  const std::string program = spec.program;  // the child may only touch what exists pre-fork
  const pid_t supervisor = ::getpid();
  pid_ = check_syscall(::fork(), "fork mount process");
  if (pid_ == 0) {
    // Child: only async-signal-safe calls until exec.
    // If the supervisor dies (even by SIGKILL) the mount process gets SIGTERM and
    // unmounts cleanly; checking the parent afterwards closes the race with a supervisor
    // that died before the signal was armed.
    if (::prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || ::getppid() != supervisor) ::_exit(127);
    // A blocked signal survives exec: the server blocks SIGTERM in every thread to
    // sigwait() for it, and a mount process inheriting that mask would never see its
    // parent-death SIGTERM and outlive a crashed server.
    sigset_t none;
    sigemptyset(&none);
    if (::sigprocmask(SIG_SETMASK, &none, nullptr) < 0) ::_exit(127);
    // Nothing the supervisor opened (sockets, other sandboxes' fds) reaches the mount
    // process; the ready pipe becomes fd 3 (dup2 clears close-on-exec on the new fd).
    if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) ::_exit(127);
    if (::dup2(ready_write.get(), kChildReadyFd) < 0) ::_exit(127);
    // A fixed environment, never the supervisor's (the server's secrets, a CLI caller's
    // loader variables): see runtime/helper_env.h.
    ::execve(program.c_str(), argv.data(), runtime::helper_environment());
    ::_exit(127);
  }
  ready_write.reset();

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
  if (pid_ <= 0) return 0;
  // ESRCH (already exited) is fine: waitpid below still reaps it.
  (void)::kill(pid_, SIGTERM);
  int status = wait_for_exit(pid_, std::chrono::seconds(5));
  if (status < 0) {
    (void)::kill(pid_, SIGKILL);
    status = wait_for_exit(pid_, std::chrono::seconds(5));
  }
  pid_ = -1;
  // A killed daemon leaves the mount behind ("Transport endpoint is not connected"); a
  // clean one already unmounted and this fails with EINVAL, which is expected.
  (void)::umount2(mountpoint_.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW);
  return status;
}

MountChild::~MountChild() {
  stop();
}

}  // namespace agentfense::supervisor
