// Where a running container's cgroups are on this host, learned once from its init
// process (/proc/<pid>/cgroup, read in our cgroup namespace, against our mount table):
//  - the directory under which each command gets its own tracking cgroup
//    (tracking_cgroup.h): the container's cgroup in the v2 hierarchy when the host has
//    one (also the "unified" mount of a hybrid host), else in the v1 "pids" hierarchy;
//  - the file whose "oom_kill" counter says the kernel killed something for memory
//    (v2 memory.events, v1 memory.oom_control), so an OOM kill is reported as one.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

namespace agentfense::runtime::docker {

struct ContainerCgroups {
  std::string tracking_parent;  // host path of the container's cgroup directory
  bool unified = false;         // tracking_parent is cgroup v2 (cgroup.kill works)
  std::string oom_events;       // "" when the host has no memory controller
};

// Throws SystemError when no usable hierarchy holds `init_pid`.
ContainerCgroups locate_container_cgroups(pid_t init_pid);

// The "oom_kill N" counter of `events_file`; nullopt when it cannot be read.
std::optional<std::uint64_t> read_oom_kills(const std::string& events_file);

}  // namespace agentfense::runtime::docker
