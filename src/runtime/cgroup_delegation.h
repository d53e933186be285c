// Rootless resource limits (docs/rootless.md): where the system delegates a cgroup v2
// subtree to the user - systemd does, as /sys/fs/cgroup/user.slice/user-UID.slice/
// user@UID.service, owned by the user - sandboxes get their limits there, exactly as
// root gets them at the root (cgroup_v2.cc), under <delegated>/agentfense/exec-*.
//
// The delegated root must be an ancestor of our own cgroup: moving a process needs
// write access to the cgroup.procs of the closest common ancestor of where it is and
// where it goes, and it must not be our own cgroup (a v2 cgroup holding processes
// cannot give controllers to children).
#pragma once

#include <sys/types.h>

#include <string>

namespace agentfense::runtime {

// The highest cgroup on the path from `unified_root` down to `unified_root + own_path`
// that `uid` owns (the directory, its cgroup.procs and cgroup.subtree_control), strictly
// above our own cgroup and offering the memory and pids controllers; "" when there is
// none. Pure over the directory tree, so tests can build one.
std::string find_delegated_cgroup(const std::string& unified_root, const std::string& own_path,
                                  uid_t uid);

// For this process: "" unless the host is pure cgroup v2 and delegates a subtree to us.
std::string delegated_cgroup_root();

// Whether memory/pids limits can be enforced: as root always (cgroup.h), rootless only
// under a delegated cgroup.
bool cgroup_limits_available();

}  // namespace agentfense::runtime
