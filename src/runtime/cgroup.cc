#include "runtime/cgroup.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>
#include <vector>

#include "common/errors.h"
#include "runtime/cgroup_backends.h"
#include "runtime/cgroup_delegation.h"

namespace agentfense::runtime {
namespace {

constexpr const char* kUnifiedMarker = "/sys/fs/cgroup/cgroup.controllers";

// The backend for this host and user (see create()).
std::unique_ptr<SandboxCgroup> create_named(const Limits& limits, const std::string& name,
                                            std::shared_ptr<const SandboxCgroup> parent) {
  if (::geteuid() != 0) {
    // Rootless: only a subtree the system delegated to us (cgroup_delegation.h).
    const std::string delegated = delegated_cgroup_root();
    if (delegated.empty())
      throw SystemError("resource limits need a writable cgroup (root, or cgroup v2 delegation)",
                        EPERM);
    return std::make_unique<CgroupV2>(limits, name, delegated, std::move(parent));
  }
  if (::access(kUnifiedMarker, F_OK) == 0)
    return std::make_unique<CgroupV2>(limits, name, kUnifiedRoot, std::move(parent));
  return std::make_unique<CgroupV1>(limits, name, std::move(parent));
}

}  // namespace

int sweep_stale_cgroups() {
  std::vector<std::string> shared;  // where create() puts its "agentfense" parent
  if (::geteuid() != 0) {
    const std::string delegated = delegated_cgroup_root();
    if (!delegated.empty()) shared.push_back(delegated + "/agentfense");
  } else if (::access(kUnifiedMarker, F_OK) == 0) {
    shared.push_back(std::string(kUnifiedRoot) + "/agentfense");
  } else {
    for (const char* controller : {"memory", "pids", "cpu"}) {
      const std::string own = v1_own_cgroup_path(controller);
      if (!own.empty()) shared.push_back(own + "/agentfense");
    }
  }
  int removed = 0;
  for (const std::string& parent : shared) removed += sweep_stale_cgroups_in(parent);
  return removed;
}

std::string next_cgroup_name(const char* kind) {
  static std::atomic<unsigned> counter{0};
  return std::string(kind) + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

void SandboxCgroup::move_in(pid_t pid) const {
  const std::string text = std::to_string(pid);
  for (const int fd : join_fds())
    if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()))
      throw SystemError("move pid " + text + " into its cgroup", errno);
}

std::unique_ptr<SandboxCgroup> SandboxCgroup::create(const Limits& limits,
                                                     std::shared_ptr<const SandboxCgroup> parent) {
  return create_named(limits, next_cgroup_name(), std::move(parent));
}

std::shared_ptr<const SandboxCgroup> SandboxCgroup::create_for_sandbox(const Limits& limits) {
  return create_named(limits, next_cgroup_name("sandbox"), nullptr);
}

}  // namespace agentfense::runtime
