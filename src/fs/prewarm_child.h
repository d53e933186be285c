// The fs process's side of the warm-up walk (prewarm_walk.h): the walker runs as a
// child process (`agentfense prewarm`) so that it can take the sandbox's host ids and
// idle priority without touching the fs process, and so that stopping the sandbox can
// kill it even while it waits on one of our own requests (FUSE waits are killable).
#pragma once

#include <sys/types.h>

#include <string>

#include "common/child_process.h"

namespace agentfense::fs {

// The walker's end of the hand-over: the mount's root arrives as this fd.
inline constexpr int kPrewarmRootFd = 3;

class PrewarmChild {
 public:
  // Starts `program prewarm --uid UID --gid GID` with `mount_root` (a directory fd of
  // the live mount) as fd kPrewarmRootFd. Throws SystemError when it cannot start.
  PrewarmChild(const std::string& program, int mount_root, uid_t uid, gid_t gid);
  PrewarmChild(const PrewarmChild&) = delete;
  PrewarmChild& operator=(const PrewarmChild&) = delete;
  // Destroying it SIGKILLs the walker if it still walks, then reaps it (ChildProcess).

  pid_t pid() const { return child_.pid(); }
  // True once the walk has ended. The exited walker is not reaped before this object
  // goes: its requests stay out of the audit trail by pid (Access::set_quiet_pid), and
  // only a zombie keeps the kernel from giving that pid to one of the agent's processes,
  // whose requests would then go unrecorded.
  bool finished() const { return !child_.running(); }

 private:
  ChildProcess child_;
};

}  // namespace agentfense::fs
