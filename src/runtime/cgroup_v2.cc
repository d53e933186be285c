#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "common/errors.h"
#include "runtime/cgroup_backends.h"

namespace agentfense::runtime {
namespace {

// cgroup v1 shares (2..262144, default 1024) to v2 weight (1..10000, default 100); the
// same mapping as runc and systemd.
int64_t shares_to_weight(int64_t shares) {
  const int64_t weight = 1 + ((shares - 2) * 9999) / 262142;
  return weight < 1 ? 1 : (weight > 10000 ? 10000 : weight);
}

// Controllers must be enabled in every ancestor's subtree_control before a child
// cgroup gets their interface files.
void enable_controllers(const std::string& cgroup_dir, const Limits& limits) {
  auto enable = [&cgroup_dir](const char* controller) {
    const std::string file = cgroup_dir + "/cgroup.subtree_control";
    const UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) throw SystemError("open " + file, errno);
    const std::string request = std::string("+") + controller;
    check_syscall(::write(fd.get(), request.data(), request.size()),
                  "enable " + request + " in " + file);
  };
  if (limits.memory_bytes > 0) enable("memory");
  if (limits.pids_limit > 0) enable("pids");
  if (limits.cpu_quota > 0 || limits.cpu_shares > 0) enable("cpu");
}

// The directory the new cgroup goes in, with the controllers of `limits` enabled down to
// it: the shared "agentfense" cgroup, or a sandbox's cgroup below that.
std::string prepare_base(const Limits& limits, const std::string& unified_root,
                         const SandboxCgroup* parent) {
  const std::string shared = unified_root + "/agentfense";
  enable_controllers(unified_root, limits);
  ensure_cgroup_dir(shared);
  enable_controllers(shared, limits);
  if (!parent) return shared;
  // The sandbox's cgroup holds no process, so it may enable controllers for its children.
  const std::string base = parent->dir_for("");
  enable_controllers(base, limits);
  return base;
}

}  // namespace

CgroupV2::CgroupV2(const Limits& limits, const std::string& name, const std::string& unified_root,
                   std::shared_ptr<const SandboxCgroup> parent)
    : SandboxCgroup(std::move(parent)),
      dir_(prepare_base(limits, unified_root, this->parent()) + "/" + name) {
  if (limits.memory_bytes > 0) {
    dir_.write("memory.max", std::to_string(limits.memory_bytes));
    if (dir_.has_file("memory.swap.max")) dir_.write("memory.swap.max", "0");
  }
  if (limits.pids_limit > 0) dir_.write("pids.max", std::to_string(limits.pids_limit));
  if (limits.cpu_quota > 0)
    // cpu_quota is already microseconds per 100 ms period (exec.h).
    dir_.write("cpu.max", std::to_string(limits.cpu_quota) + " " + std::to_string(kCpuPeriod));
  if (limits.cpu_shares > 0)
    dir_.write("cpu.weight", std::to_string(shares_to_weight(limits.cpu_shares)));
}

std::vector<int> CgroupV2::join_fds() const {
  return {dir_.procs_fd()};
}

void CgroupV2::kill_all() {
  // cgroup.kill (Linux 5.14+) kills the whole subtree atomically, forks included; older
  // kernels fall back to the v1-style loop. Both then wait for the cgroup to empty.
  if (dir_.has_file("cgroup.kill")) dir_.write("cgroup.kill", "1");
  dir_.kill_members_until_empty();
}

std::vector<pid_t> CgroupV2::members() const {
  return dir_.members();
}

LimitHits CgroupV2::limit_hits() const {
  // The files exist only when the controller is enabled, i.e. when its limit is set.
  return {.oom_kills = read_cgroup_counter(dir_.path() + "/memory.events", "oom_kill").value_or(0),
          .pids_refused = read_cgroup_counter(dir_.path() + "/pids.events", "max").value_or(0)};
}

std::vector<std::string> CgroupV2::paths() const {
  return {dir_.path()};
}

std::string CgroupV2::dir_for(const std::string& controller) const {
  return controller.empty() ? dir_.path() : "";
}

}  // namespace agentfense::runtime
