#include "runtime/workspace_attach.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "common/child_process.h"
#include "common/errors.h"
#include "common/unique_fd.h"

namespace agentfense::runtime {
namespace {

pid_t parent_of(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.starts_with("PPid:")) return static_cast<pid_t>(std::stol(line.substr(5)));
  return -1;
}

// The workspace mount, detached, with the flags bwrap gives its binds.
UniqueFd workspace_clone(int workspace_fd) {
  UniqueFd tree(::open_tree(workspace_fd, "",
                            OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE));
  if (!tree) throw SystemError("open_tree workspace", errno);
  mount_attr attr{};
  attr.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  attr.propagation = MS_PRIVATE;
  check_syscall(::syscall(SYS_mount_setattr, tree.get(), "", AT_EMPTY_PATH | AT_RECURSIVE, &attr,
                          sizeof attr),
                "mount_setattr workspace clone");
  return tree;
}

}  // namespace

void attach_workspace(int workspace_fd, pid_t member, pid_t bwrap) {
  const UniqueFd tree = workspace_clone(workspace_fd);
  const UniqueFd target(static_cast<int>(::syscall(SYS_pidfd_open, member, 0)));
  if (!target) throw SystemError("pidfd_open boundary member " + std::to_string(member), errno);
  // With the pidfd held: while its process lives, /proc/<member> is that process. A dead
  // one makes setns fail below.
  const pid_t init = parent_of(member);
  if (init <= 0 || parent_of(init) != bwrap)
    throw SystemError("process " + std::to_string(member) + " is not inside the boundary", ESRCH);
  const int tree_fd = tree.get();
  const int target_fd = target.get();
  // setns(CLONE_NEWNS) needs a task with an fs_struct of its own: a (vfork) child, which
  // is also what keeps the server's threads out of the boundary's namespace.
  ChildProcess child = ChildProcess::spawn_vfork([tree_fd, target_fd]() -> ChildFailure {
    if (::setns(target_fd, CLONE_NEWNS) < 0) return {"setns into the boundary", errno};
    const int at = ::open("/workspace", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (at < 0) return {"open the boundary's /workspace", errno};
    if (::move_mount(tree_fd, "", at, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
      return {"move_mount workspace into the boundary", errno};
    ::_exit(0);
  });
  const int status = child.wait();
  if (status != 0)
    throw SystemError("attach workspace: child exited with " + std::to_string(status), ECHILD);
}

}  // namespace agentfense::runtime
