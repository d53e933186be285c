// Docker has no call that kills an exec, and an exec's processes can setsid() or
// daemonize away from it. So each command (and each session's shell) is moved, before it
// starts, into a cgroup of its own below the container's (exec_launch.h): everything it
// ever starts is inside, and killing that cgroup ends exactly its tree, not the other
// commands and sessions of the same sandbox. Limits stay the container's: no controller
// is enabled below it, so the container's cgroup still counts every process.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "runtime/cgroup_dir.h"
#include "runtime/docker/container_cgroups.h"

namespace agentfense::runtime::docker {

class TrackingCgroup {
 public:
  // Creates <container cgroup>/<name>; throws SystemError.
  TrackingCgroup(const ContainerCgroups& container, const std::string& name);

  // Moves `pid` (a host pid of the container) in; throws SystemError.
  void adopt(pid_t pid) const;
  // SIGKILLs every process inside and returns once it is empty.
  void kill_all() const;
  // SIGKILLs every process inside except `keep` (a session's shell) until only it is
  // left: forks racing the kill are caught by the next round.
  void kill_all_except(pid_t keep) const;
  std::vector<pid_t> members() const { return dir_.members(); }
  const std::string& path() const { return dir_.path(); }

 private:
  CgroupDir dir_;  // destruction kills what is left and removes the directory
  bool unified_;
};

// "agentfense-<kind>-<our pid>-<n>": unique per command of this process.
std::string next_tracking_name(const std::string& kind);

}  // namespace agentfense::runtime::docker
