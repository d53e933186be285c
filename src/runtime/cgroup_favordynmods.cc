#include "runtime/cgroup_favordynmods.h"

#include <fstream>
#include <sstream>

namespace agentfense::runtime {
namespace {

bool has_option(const std::string& comma_list, std::string_view option) {
  std::istringstream items(comma_list);
  for (std::string entry; std::getline(items, entry, ',');)
    if (entry == option) return true;
  return false;
}

}  // namespace

CgroupFavorDynmods cgroup_favordynmods(std::string_view mountinfo) {
  // Lines "id parent maj:min root mountpoint opts... - fstype source superopts". The
  // super options are the hierarchy's own flags (cgroup_show_options), so they say what
  // the kernel does now even when another mount of the same hierarchy changed them.
  CgroupFavorDynmods state;
  std::istringstream lines{std::string(mountinfo)};
  for (std::string line; std::getline(lines, line);) {
    const auto separator = line.find(" - ");
    if (separator == std::string::npos) continue;
    std::istringstream head(line.substr(0, separator));
    std::istringstream tail(line.substr(separator + 3));
    std::string id, parent, device, root, mountpoint, fstype, source, superopts;
    head >> id >> parent >> device >> root >> mountpoint;
    tail >> fstype >> source >> superopts;
    if (fstype != "cgroup" && fstype != "cgroup2") continue;
    state.cgroups = true;
    if (fstype == "cgroup2" && state.cgroup2_mount.empty()) state.cgroup2_mount = mountpoint;
    if (has_option(superopts, "favordynmods")) state.on = true;
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
