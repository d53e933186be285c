// Per-exec cgroup: enforces Limits and is the handle that kills the whole process tree
// (including daemons that setsid() away). The forked child joins it before exec'ing
// bwrap, so everything the command ever starts is inside.
//
// Layout: <cgroup of this process>/agentfense/exec-<pid>-<n> in each v1 controller we
// use (memory, pids, cpu), or /sys/fs/cgroup/agentfense/exec-<pid>-<n> on v2 (a v2
// non-root cgroup holding processes cannot delegate controllers, so the parent sits at
// the root). The "agentfense" parent is shared by concurrent execs and left in place.
// A server's sandbox adds a level: .../agentfense/sandbox-<pid>-<n>/exec-<pid>-<n>, the
// sandbox's cgroup holding no process itself and its limits bounding all of its
// commands and sessions together (a session's background jobs outlive its calls).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "runtime/cgroup_counters.h"
#include "runtime/exec.h"

namespace agentfense::runtime {

class SandboxCgroup {
 public:
  // v2 when /sys/fs/cgroup/cgroup.controllers exists, v1 otherwise; rootless, v2 under
  // the subtree delegated to us (cgroup_delegation.h). Throws SystemError when the
  // cgroup cannot be created or a limit cannot be set. With a `parent` (a sandbox's
  // cgroup, create_for_sandbox) it goes below it, and is kept from outliving it.
  static std::unique_ptr<SandboxCgroup> create(const Limits& limits,
                                               std::shared_ptr<const SandboxCgroup> parent = {});

  // A sandbox's own cgroup: no process joins it, its commands' and sessions' cgroups
  // are made below it (create's `parent`), so `limits` bound them all together.
  static std::shared_ptr<const SandboxCgroup> create_for_sandbox(const Limits& limits);

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

  // Where a child cgroup goes in the hierarchy of `controller` ("" = the v2 one): our
  // directory there, or "" when we have none in it.
  virtual std::string dir_for(const std::string& controller) const = 0;

 protected:
  explicit SandboxCgroup(std::shared_ptr<const SandboxCgroup> parent)
      : parent_(std::move(parent)) {}
  const SandboxCgroup* parent() const { return parent_.get(); }

 private:
  // Released after a backend's directories are removed (members are destroyed before
  // the base): a parent's rmdir would fail while a child exists.
  std::shared_ptr<const SandboxCgroup> parent_;
};

// Removes the cgroups (with their processes) that dead processes made where this one
// makes its own: a server killed with SIGKILL left its sandboxes' and commands' cgroups
// until a later cgroup was made in the same place. A server start calls it; returns how
// many were removed.
int sweep_stale_cgroups();

// "<kind>-<our pid>-<counter>" (kind: exec or sandbox): unique, and the pid lets a later
// process remove what a dead one left (cgroup_dir.h) and tests find their own.
std::string next_cgroup_name(const char* kind = "exec");

}  // namespace agentfense::runtime
