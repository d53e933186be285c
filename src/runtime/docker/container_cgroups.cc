#include "runtime/docker/container_cgroups.h"

#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>

#include "common/errors.h"

namespace agentfense::runtime::docker {
namespace {

bool list_contains(const std::string& comma_list, const std::string& item) {
  std::istringstream items(comma_list);
  for (std::string entry; std::getline(items, entry, ',');)
    if (entry == item) return true;
  return false;
}

// Mount points from /proc/self/mountinfo: "" for cgroup2, else each v1 controller.
std::map<std::string, std::string> cgroup_mounts() {
  std::map<std::string, std::string> mounts;
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
    for (const char* controller : {"pids", "memory"})
      if (list_contains(superopts, controller)) mounts.emplace(controller, mountpoint);
  }
  return mounts;
}

// /proc/<pid>/cgroup: "" -> the v2 path, and each v1 controller -> its path.
std::map<std::string, std::string> cgroups_of(pid_t pid) {
  std::map<std::string, std::string> paths;
  std::ifstream cgroups("/proc/" + std::to_string(pid) + "/cgroup");
  for (std::string line; std::getline(cgroups, line);) {
    const auto first = line.find(':');
    const auto second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    const std::string controllers = line.substr(first + 1, second - first - 1);
    const std::string path = line.substr(second + 1);
    if (controllers.empty()) paths.emplace("", path);
    for (const char* controller : {"pids", "memory"})
      if (list_contains(controllers, controller)) paths.emplace(controller, path);
  }
  return paths;
}

std::string join(const std::string& mountpoint, const std::string& path) {
  return path == "/" ? mountpoint : mountpoint + path;
}

}  // namespace

ContainerCgroups locate_container_cgroups(pid_t init_pid) {
  const auto mounts = cgroup_mounts();
  const auto paths = cgroups_of(init_pid);
  ContainerCgroups found;
  if (mounts.count("") && paths.count("")) {
    found.tracking_parent = join(mounts.at(""), paths.at(""));
    found.unified = true;
  } else if (mounts.count("pids") && paths.count("pids")) {
    found.tracking_parent = join(mounts.at("pids"), paths.at("pids"));
  } else {
    throw SystemError("container init " + std::to_string(init_pid) +
                          ": neither a cgroup v2 nor a v1 pids hierarchy holds it",
                      ENOENT);
  }
  if (mounts.count("memory") && paths.count("memory")) {
    found.oom_events = join(mounts.at("memory"), paths.at("memory")) + "/memory.oom_control";
  } else if (found.unified &&
             ::access((found.tracking_parent + "/memory.events").c_str(), R_OK) == 0) {
    found.oom_events = found.tracking_parent + "/memory.events";
  }
  if (mounts.count("pids") && paths.count("pids")) {
    found.pids_events = join(mounts.at("pids"), paths.at("pids")) + "/pids.events";
  } else if (found.unified &&
             ::access((found.tracking_parent + "/pids.events").c_str(), R_OK) == 0) {
    found.pids_events = found.tracking_parent + "/pids.events";
  }
  return found;
}

LimitHits ContainerCgroups::limit_hits() const {
  return {.oom_kills = read_cgroup_counter(oom_events, "oom_kill").value_or(0),
          .pids_refused = read_cgroup_counter(pids_events, "max").value_or(0)};
}

}  // namespace agentfense::runtime::docker
