#include "runtime/workspace_staging.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>

namespace agentfense::runtime {

ChildFailure enter_private_mount_namespace() {
  if (::unshare(CLONE_NEWNS) < 0) return {"unshare mount namespace", errno};
  // The host's / is usually a shared mount: without this the staging mount would
  // propagate back into the host's namespace.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0)
    return {"make mounts private", errno};
  return {};
}

ChildFailure stage_workspace(int workspace_fd) {
  const int tree = ::open_tree(workspace_fd, "",
                               OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
  if (tree < 0) return {"open_tree workspace", errno};
  if (auto f = enter_private_mount_namespace(); f.step) return f;
  if (::move_mount(tree, "", AT_FDCWD, kWorkspaceStagingDir, MOVE_MOUNT_F_EMPTY_PATH) < 0)
    return {"attach workspace at staging dir", errno};
  // The exec would close it anyway (OPEN_TREE_CLOEXEC); closing early keeps the fd
  // table small. close() on a valid fd we own cannot meaningfully fail here.
  (void)::close(tree);
  const int staged = ::open(kWorkspaceStagingDir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (staged < 0) return {"open staged workspace", errno};
  if (::dup3(staged, workspace_fd, 0) < 0) return {"dup3 staged workspace", errno};
  (void)::close(staged);
  return {};
}

}  // namespace agentfense::runtime
