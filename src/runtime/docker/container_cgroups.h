// Where a running container's cgroups are on this host, learned once from its init
// process (/proc/<pid>/cgroup, read in our cgroup namespace, against our mount table):
//  - the directory under which each command gets its own tracking cgroup
//    (tracking_cgroup.h): the container's cgroup in the v2 hierarchy when the host has
//    one (also the "unified" mount of a hybrid host), else in the v1 "pids" hierarchy;
//  - the file whose "oom_kill" counter says the kernel killed something for memory
//    (v2 memory.events, v1 memory.oom_control), so an OOM kill is reported as one;
//  - the pids.events whose "max" counter says a fork was refused at the pids limit.
#pragma once

#include <sys/types.h>

#include <string>

#include "runtime/cgroup_counters.h"

namespace agentfense::runtime::docker {

struct ContainerCgroups {
  std::string tracking_parent;  // host path of the container's cgroup directory
  bool unified = false;         // tracking_parent is cgroup v2 (cgroup.kill works)
  std::string oom_events;       // "" when the host has no memory controller
  std::string pids_events;      // "" when the host has no pids controller

  // The container's counters now (read_cgroup_counter); zero where unreadable.
  LimitHits limit_hits() const;
};

// Throws SystemError when no usable hierarchy holds `init_pid`.
ContainerCgroups locate_container_cgroups(pid_t init_pid);

}  // namespace agentfense::runtime::docker
