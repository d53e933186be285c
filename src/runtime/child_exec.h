// The child's linear chain, from its start to `execve(bwrap)`: join the cgroup, wire
// stdio, close every fd bwrap must not see, stage the workspace, drop to the unprivileged
// host ids, arm the parent-death signal, set no_new_privs, exec. Everything is prepared
// before (ChildPlan) so the child only makes plain system calls: it runs as a vfork
// child on the parent's memory (ChildProcess::spawn_vfork), which is why the ids are
// dropped with raw syscalls (drop_task_privileges).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/child_process.h"

namespace agentfense::runtime {

// argv/envp storage: a vector of strings plus the NULL-terminated pointer array that
// execve wants, built in the parent.
class CStringArray {
 public:
  explicit CStringArray(std::vector<std::string> strings);
  CStringArray(const CStringArray&) = delete;
  CStringArray& operator=(const CStringArray&) = delete;
  char* const* get() const { return pointers_.data(); }

 private:
  std::vector<std::string> strings_;
  std::vector<char*> pointers_;
};

struct ChildPlan {
  std::vector<int> cgroup_join_fds;  // cgroup.procs files to write "0" into
  int stdin_fd = -1;                 // -1: keep the parent's fd 0/1/2
  int stdout_fd = -1;
  int stderr_fd = -1;
  std::vector<int> inherited_fds;   // the only fds >= 3 that survive exec
  int workspace_fd = -1;            // staged for bwrap when >= 0 (workspace_staging.h)
  bool workspace_later = false;     // none yet: a private mount namespace all the same
  bool drop_privileges = false;     // we are root: become uid/gid below
  bool private_tun_device = false;  // network helper: see tun_device.h (needs root)
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t parent_pid = 0;  // to detect that the parent died before PDEATHSIG was armed
  const char* program = nullptr;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
};

// Runs in the forked child. Only returns on failure.
ChildFailure exec_child(const ChildPlan& plan);

}  // namespace agentfense::runtime
