#include "runtime/cgroup_places.h"

#include <fstream>
#include <sstream>

namespace agentfense::runtime {

std::vector<CgroupMount> cgroup_mounts_in(std::string_view mountinfo) {
  // Lines "id parent maj:min root mountpoint opts... - fstype source superopts".
  std::vector<CgroupMount> mounts;
  std::istringstream lines{std::string(mountinfo)};
  for (std::string line; std::getline(lines, line);) {
    const auto separator = line.find(" - ");
    if (separator == std::string::npos) continue;
    std::istringstream head(line.substr(0, separator));
    std::istringstream tail(line.substr(separator + 3));
    std::string id, parent, device, root, source;
    CgroupMount mount;
    head >> id >> parent >> device >> root >> mount.mountpoint;
    tail >> mount.fstype >> source >> mount.superopts;
    if (mount.fstype == "cgroup" || mount.fstype == "cgroup2") mounts.push_back(std::move(mount));
  }
  return mounts;
}

std::vector<CgroupMount> cgroup_mounts_here() {
  std::ifstream file("/proc/self/mountinfo");
  std::stringstream text;
  text << file.rdbuf();
  return cgroup_mounts_in(text.str());
}

bool in_comma_list(std::string_view list, std::string_view item) {
  while (!list.empty()) {
    const auto comma = list.find(',');
    if (list.substr(0, comma) == item) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

CgroupPlaces cgroup_mounts(std::initializer_list<const char*> controllers) {
  CgroupPlaces mounts;
  for (const CgroupMount& mount : cgroup_mounts_here()) {
    if (mount.fstype == "cgroup2") mounts.emplace("", mount.mountpoint);
    if (mount.fstype != "cgroup") continue;
    for (const char* controller : controllers)
      if (in_comma_list(mount.superopts, controller)) mounts.emplace(controller, mount.mountpoint);
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
      if (in_comma_list(listed, controller)) paths.emplace(controller, path);
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
