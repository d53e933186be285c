// Per-exec cgroup: enforces Limits and is the handle that kills the whole process tree
// (including daemons that setsid() away). The forked child joins it before exec'ing
// bwrap, so everything the command ever starts is inside.
//
// Layout: <cgroup of this process>/agentfense/exec-<pid>-<n> in each v1 controller we
// use (memory, pids, cpu), or /sys/fs/cgroup/agentfense/exec-<pid>-<n> on v2 (a v2
// non-root cgroup holding processes cannot delegate controllers, so the parent sits at
// the root). The "agentfense" parent is shared by concurrent execs and left in place.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "runtime/cgroup_counters.h"
#include "runtime/exec.h"

namespace agentfense::runtime {

class SandboxCgroup {
 public:
  // v2 when /sys/fs/cgroup/cgroup.controllers exists, v1 otherwise; rootless, v2 under
  // the subtree delegated to us (cgroup_delegation.h). Throws SystemError when the
  // cgroup cannot be created or a limit cannot be set.
  static std::unique_ptr<SandboxCgroup> create(const Limits& limits);

  // Destruction kills any survivor and removes the cgroup directories.
  virtual ~SandboxCgroup() = default;

  // Open cgroup.procs files; the child writes "0" (= itself) into each. Async-signal-
  // safe to use after fork, unlike opening paths.
  virtual std::vector<int> join_fds() const = 0;

  // Moves the process `pid` (host pid, with its threads) into the cgroup, in every
  // hierarchy. Throws SystemError.
  void move_in(pid_t pid) const;

  // SIGKILLs every process in the cgroup; returns once it is empty (or gives up).
  virtual void kill_all() = 0;

  // Host pids of the processes currently in the cgroup (a snapshot; it may change
  // as soon as it is read).
  virtual std::vector<pid_t> members() const = 0;

  // What the memory and pids limits did so far (zero counters the kernel does not
  // keep). Still readable after kill_all(): the directories stay until destruction.
  virtual LimitHits limit_hits() const = 0;

  // The host directories backing this cgroup (for diagnostics and tests).
  virtual std::vector<std::string> paths() const = 0;
};

// "exec-<our pid>-<counter>": unique per exec, and tests can find their own leftovers.
std::string next_cgroup_name();

}  // namespace agentfense::runtime
