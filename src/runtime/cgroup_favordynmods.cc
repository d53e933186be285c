#include "runtime/cgroup_favordynmods.h"

#include <fstream>
#include <sstream>

#include "runtime/cgroup_places.h"

namespace agentfense::runtime {

CgroupFavorDynmods cgroup_favordynmods(std::string_view mountinfo) {
  // The super options are the hierarchy's own flags (cgroup_show_options), so they say
  // what the kernel does now even when another mount of the same hierarchy changed them.
  CgroupFavorDynmods state;
  for (const CgroupMount& mount : cgroup_mounts_in(mountinfo)) {
    state.cgroups = true;
    if (mount.fstype == "cgroup2" && state.cgroup2_mount.empty())
      state.cgroup2_mount = mount.mountpoint;
    if (in_comma_list(mount.superopts, "favordynmods")) state.on = true;
  }
  return state;
}

CgroupFavorDynmods cgroup_favordynmods() {
  std::ifstream file("/proc/self/mountinfo");
  std::stringstream text;
  text << file.rdbuf();
  return cgroup_favordynmods(text.str());
}

}  // namespace agentfense::runtime
