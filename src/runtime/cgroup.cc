#include "runtime/cgroup.h"

#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>

#include "runtime/cgroup_backends.h"

namespace agentfense::runtime {
namespace {

constexpr const char* kUnifiedMarker = "/sys/fs/cgroup/cgroup.controllers";

}  // namespace

std::string next_cgroup_name() {
  static std::atomic<unsigned> counter{0};
  return "exec-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

std::unique_ptr<SandboxCgroup> SandboxCgroup::create(const Limits& limits) {
  const std::string name = next_cgroup_name();
  if (::access(kUnifiedMarker, F_OK) == 0) return std::make_unique<CgroupV2>(limits, name);
  return std::make_unique<CgroupV1>(limits, name);
}

}  // namespace agentfense::runtime
