// Whether this host's cgroups favour dynamic modifications (the `favordynmods` mount
// option). Without it, moving a process into a cgroup takes cgroup_threadgroup_rwsem
// for writing, which waits for an RCU grace period unless another move happened within
// the last one: ~10 ms for the first command of every sandbox (exec_launcher.h moves a
// spare ahead of time, but a new sandbox's first one is on its first command's path).
// With it, the same move takes ~0.15 ms; forks and exits cost the same here
// (docs/performance.md "Host settings").
//
// The rwsem is one for the whole kernel: any hierarchy mounted with the option switches
// it for all. scripts/setup.sh remounts the cgroup2 hierarchy with it; the server says
// at start-up when it is off (server.cgroup_favordynmods_off).
#pragma once

#include <string>
#include <string_view>

namespace agentfense::runtime {

struct CgroupFavorDynmods {
  bool cgroups = false;  // any cgroup hierarchy mounted at all
  bool on = false;       // some hierarchy is mounted with favordynmods
  // Where setup.sh would set it: the cgroup2 mount ("" on a host with v1 hierarchies
  // only, whose flags the kernel refuses to change on remount).
  std::string cgroup2_mount;
};

// From the text of a /proc/<pid>/mountinfo.
CgroupFavorDynmods cgroup_favordynmods(std::string_view mountinfo);
// This host, as this process's mount namespace shows it.
CgroupFavorDynmods cgroup_favordynmods();

}  // namespace agentfense::runtime
