// Where the cgroup hierarchies are mounted (/proc/self/mountinfo) and where a process
// sits in them (/proc/<pid>/cgroup): what the bwrap runtime (a v1 host's own cgroup,
// cgroup_v1.cc) and the docker runtime (a container's cgroups, container_cgroups.cc)
// both need to find a cgroup directory on the host.
#pragma once

#include <sys/types.h>

#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace agentfense::runtime {

// One cgroup mount listed in a /proc/<pid>/mountinfo: "cgroup" (v1) or "cgroup2", its
// mount point, and the hierarchy's own options (its controllers, favordynmods, ...).
struct CgroupMount {
  std::string fstype;
  std::string mountpoint;
  std::string superopts;
};

// The cgroup mounts in the text of a mountinfo file, in its order.
std::vector<CgroupMount> cgroup_mounts_in(std::string_view mountinfo);
// The same for this process's mount namespace (/proc/self/mountinfo).
std::vector<CgroupMount> cgroup_mounts_here();
// Whether `item` is one of the comma-separated `list` (mount options, controllers).
bool in_comma_list(std::string_view list, std::string_view item);

// Keyed by "" for the unified (v2) hierarchy, else by a v1 controller's name.
using CgroupPlaces = std::map<std::string, std::string>;

// Mount points of the v2 hierarchy and of the v1 hierarchies carrying `controllers`
// (the first mount of each).
CgroupPlaces cgroup_mounts(std::initializer_list<const char*> controllers);

// The cgroup paths of `pid` (0 = this process) in the v2 hierarchy and in the v1
// hierarchies carrying `controllers`.
CgroupPlaces cgroups_of(pid_t pid, std::initializer_list<const char*> controllers);

// The host directory of cgroup `path` in a hierarchy mounted at `mountpoint`.
std::string cgroup_host_path(const std::string& mountpoint, const std::string& path);

// Where this process sits in the v1 hierarchy of `controller`, as a host path
// (mountpoint + our cgroup), or "" when that controller is not mounted.
std::string v1_own_cgroup_path(const std::string& controller);

}  // namespace agentfense::runtime
