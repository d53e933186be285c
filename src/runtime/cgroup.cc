#include "runtime/cgroup.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <fstream>
#include <sstream>

#include "common/errors.h"
#include "runtime/cgroup_backends.h"

namespace agentfense::runtime {
namespace {

constexpr const char* kUnifiedMarker = "/sys/fs/cgroup/cgroup.controllers";

bool list_contains(const std::string& comma_list, const std::string& item) {
  std::istringstream items(comma_list);
  for (std::string entry; std::getline(items, entry, ',');)
    if (entry == item) return true;
  return false;
}

// Mount point of the v1 hierarchy carrying `controller`, from /proc/self/mountinfo:
// "id parent maj:min root mountpoint opts... - fstype source superopts".
std::string v1_mountpoint(const std::string& controller) {
  std::ifstream mountinfo("/proc/self/mountinfo");
  for (std::string line; std::getline(mountinfo, line);) {
    const auto separator = line.find(" - ");
    if (separator == std::string::npos) continue;
    std::istringstream head(line.substr(0, separator));
    std::istringstream tail(line.substr(separator + 3));
    std::string id, parent, device, root, mountpoint, fstype, source, superopts;
    head >> id >> parent >> device >> root >> mountpoint;
    tail >> fstype >> source >> superopts;
    if (fstype == "cgroup" && list_contains(superopts, controller)) return mountpoint;
  }
  return "";
}

// Our cgroup in the hierarchy carrying `controller`, from /proc/self/cgroup lines
// "hierarchy-id:controller,list:/path".
std::string v1_own_relative_path(const std::string& controller) {
  std::ifstream cgroups("/proc/self/cgroup");
  for (std::string line; std::getline(cgroups, line);) {
    const auto first = line.find(':');
    const auto second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    if (list_contains(line.substr(first + 1, second - first - 1), controller))
      return line.substr(second + 1);
  }
  return "/";
}

}  // namespace

std::string v1_own_cgroup_path(const std::string& controller) {
  const std::string mountpoint = v1_mountpoint(controller);
  if (mountpoint.empty()) return "";
  const std::string own = v1_own_relative_path(controller);
  return own == "/" ? mountpoint : mountpoint + own;
}

std::string next_cgroup_name() {
  static std::atomic<unsigned> counter{0};
  return "exec-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

void SandboxCgroup::move_in(pid_t pid) const {
  const std::string text = std::to_string(pid);
  for (const int fd : join_fds())
    if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()))
      throw SystemError("move pid " + text + " into its cgroup", errno);
}

std::unique_ptr<SandboxCgroup> SandboxCgroup::create(const Limits& limits) {
  const std::string name = next_cgroup_name();
  if (::access(kUnifiedMarker, F_OK) == 0) return std::make_unique<CgroupV2>(limits, name);
  return std::make_unique<CgroupV1>(limits, name);
}

}  // namespace agentfense::runtime
