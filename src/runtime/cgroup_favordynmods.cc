#include "runtime/cgroup_favordynmods.h"

#include <vector>

#include "runtime/cgroup_places.h"

namespace agentfense::runtime {
namespace {

CgroupFavorDynmods from_mounts(const std::vector<CgroupMount>& mounts) {
  // The super options are the hierarchy's own flags (cgroup_show_options), so they say
  // what the kernel does now even when another mount of the same hierarchy changed them.
  CgroupFavorDynmods state;
  for (const CgroupMount& mount : mounts) {
    state.cgroups = true;
    if (mount.fstype == "cgroup2" && state.cgroup2_mount.empty())
      state.cgroup2_mount = mount.mountpoint;
    if (in_comma_list(mount.superopts, "favordynmods")) state.on = true;
  }
  return state;
}

}  // namespace

CgroupFavorDynmods cgroup_favordynmods(std::string_view mountinfo) {
  return from_mounts(cgroup_mounts_in(mountinfo));
}

CgroupFavorDynmods cgroup_favordynmods() {
  return from_mounts(cgroup_mounts_here());
}

}  // namespace agentfense::runtime
