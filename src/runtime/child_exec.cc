#include "runtime/child_exec.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

#include "runtime/credentials.h"
#include "runtime/tun_device.h"
#include "runtime/workspace_staging.h"

namespace agentfense::runtime {
namespace {

ChildFailure join_cgroups(const std::vector<int>& fds) {
  // "0" is "the writing process"; this must happen while we are still root.
  for (const int fd : fds)
    if (::write(fd, "0", 1) != 1) return {"join cgroup", errno};
  return {};
}

// A blocked or ignored signal survives exec; the sandbox starts from the defaults.
ChildFailure reset_signals() {
  sigset_t none;
  sigemptyset(&none);
  if (::sigprocmask(SIG_SETMASK, &none, nullptr) < 0) return {"sigprocmask", errno};
  // SIGKILL/SIGSTOP (and glibc's internal signals) reject SIG_DFL: nothing to reset.
  for (int sig = 1; sig < NSIG; ++sig) (void)::signal(sig, SIG_DFL);
  return {};
}

ChildFailure attach_stdio(int from, int to) {
  if (from < 0) return {};
  if (from == to) {
    if (::fcntl(to, F_SETFD, 0) < 0) return {"clear close-on-exec on stdio", errno};
    return {};
  }
  if (::dup2(from, to) < 0) return {"dup2 stdio", errno};
  return {};
}

// Every fd the parent ever opened (the server's sockets, other sandboxes' mounts) is
// marked close-on-exec; only the ones listed in the plan reach bwrap.
ChildFailure limit_inherited_fds(const std::vector<int>& keep) {
  if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) return {"close_range", errno};
  for (const int fd : keep)
    if (::fcntl(fd, F_SETFD, 0) < 0) return {"clear close-on-exec", errno};
  return {};
}

// If the supervisor dies, bwrap dies, and --die-with-parent takes the sandbox with it.
// Armed after the credential change because changing credentials clears it.
ChildFailure die_with_parent(pid_t parent) {
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) return {"PR_SET_PDEATHSIG", errno};
  if (::getppid() != parent) return {"parent exited during sandbox setup", ESRCH};
  return {};
}

}  // namespace

CStringArray::CStringArray(std::vector<std::string> strings) : strings_(std::move(strings)) {
  for (std::string& s : strings_) pointers_.push_back(s.data());
  pointers_.push_back(nullptr);
}

ChildFailure exec_child(const ChildPlan& plan) {
  if (auto f = join_cgroups(plan.cgroup_join_fds); f.step) return f;
  if (auto f = reset_signals(); f.step) return f;
  if (auto f = attach_stdio(plan.stdin_fd, STDIN_FILENO); f.step) return f;
  if (auto f = attach_stdio(plan.stdout_fd, STDOUT_FILENO); f.step) return f;
  if (auto f = attach_stdio(plan.stderr_fd, STDERR_FILENO); f.step) return f;
  if (auto f = limit_inherited_fds(plan.inherited_fds); f.step) return f;
  // Our cwd may be somewhere the sandbox uid cannot enter; bwrap gets --chdir anyway.
  if (::chdir("/") < 0) return {"chdir /", errno};
  if (plan.drop_privileges) {
    // Staging needs CAP_SYS_ADMIN; without root, bwrap binds the fd's own path.
    if (plan.workspace_fd >= 0) {
      if (auto f = stage_workspace(plan.workspace_fd); f.step) return f;
    } else if (plan.workspace_later) {
      if (auto f = enter_private_mount_namespace(); f.step) return f;
    }
    if (plan.private_tun_device) {
      if (auto f = provide_private_tun_device(plan.uid, plan.gid); f.step) return f;
    }
    if (auto f = drop_task_privileges(plan.uid, plan.gid); f.step) return f;
  }
  if (auto f = die_with_parent(plan.parent_pid); f.step) return f;
  if (auto f = enforce_no_new_privs(); f.step) return f;
  ::execve(plan.program, plan.argv, plan.envp);
  return {"execve bwrap", errno};
}

}  // namespace agentfense::runtime
