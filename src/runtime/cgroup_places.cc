#include "runtime/cgroup_places.h"

#include <fstream>
#include <sstream>

namespace agentfense::runtime {
namespace {

bool list_contains(const std::string& comma_list, const std::string& item) {
  std::istringstream items(comma_list);
  for (std::string entry; std::getline(items, entry, ',');)
    if (entry == item) return true;
  return false;
}

}  // namespace

CgroupPlaces cgroup_mounts(std::initializer_list<const char*> controllers) {
  // Lines "id parent maj:min root mountpoint opts... - fstype source superopts".
  CgroupPlaces mounts;
  std::ifstream mountinfo("/proc/self/mountinfo");
  for (std::string line; std::getline(mountinfo, line);) {
    const auto separator = line.find(" - ");
    if (separator == std::string::npos) continue;
    std::istringstream head(line.substr(0, separator));
    std::istringstream tail(line.substr(separator + 3));
    std::string id, parent, device, root, mountpoint, fstype, source, superopts;
    head >> id >> parent >> device >> root >> mountpoint;
    tail >> fstype >> source >> superopts;
    if (fstype == "cgroup2") mounts.emplace("", mountpoint);
    if (fstype != "cgroup") continue;
    for (const char* controller : controllers)
      if (list_contains(superopts, controller)) mounts.emplace(controller, mountpoint);
  }
  return mounts;
}

CgroupPlaces cgroups_of(pid_t pid, std::initializer_list<const char*> controllers) {
  // Lines "hierarchy-id:controller,list:/path"; the v2 line has no controllers.
  CgroupPlaces paths;
  std::ifstream cgroups("/proc/" + (pid == 0 ? std::string("self") : std::to_string(pid)) +
                        "/cgroup");
  for (std::string line; std::getline(cgroups, line);) {
    const auto first = line.find(':');
    const auto second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    const std::string listed = line.substr(first + 1, second - first - 1);
    const std::string path = line.substr(second + 1);
    if (listed.empty()) paths.emplace("", path);
    for (const char* controller : controllers)
      if (list_contains(listed, controller)) paths.emplace(controller, path);
  }
  return paths;
}

std::string cgroup_host_path(const std::string& mountpoint, const std::string& path) {
  return path == "/" ? mountpoint : mountpoint + path;
}

std::string v1_own_cgroup_path(const std::string& controller) {
  const CgroupPlaces mounts = cgroup_mounts({controller.c_str()});
  const auto mount = mounts.find(controller);
  if (mount == mounts.end()) return "";
  const CgroupPlaces own = cgroups_of(0, {controller.c_str()});
  const auto path = own.find(controller);
  // Not listed: the hierarchy's root.
  return cgroup_host_path(mount->second, path == own.end() ? "/" : path->second);
}

}  // namespace agentfense::runtime
