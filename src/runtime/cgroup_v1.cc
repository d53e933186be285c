#include <cerrno>
#include <string>

#include "common/errors.h"
#include "runtime/cgroup_backends.h"

namespace agentfense::runtime {
namespace {

// The hierarchy for `controller`, or a SystemError when it is needed but missing.
std::string controller_base(const std::string& controller) {
  const std::string own = v1_own_cgroup_path(controller);
  if (own.empty())
    throw SystemError("cgroup v1 controller '" + controller + "' not mounted", ENOENT);
  const std::string base = own + "/agentfense";
  ensure_cgroup_dir(base);
  return base;
}

void apply_memory(const CgroupDir& dir, int64_t bytes) {
  if (bytes <= 0) return;
  dir.write("memory.limit_in_bytes", std::to_string(bytes));
  // memsw = memory + swap; setting it equal to the memory limit grants no swap. Only
  // present when the kernel accounts swap.
  if (dir.has_file("memory.memsw.limit_in_bytes"))
    dir.write("memory.memsw.limit_in_bytes", std::to_string(bytes));
}

void apply_cpu(const CgroupDir& dir, const Limits& limits) {
  if (limits.cpu_quota > 0) {
    dir.write("cpu.cfs_period_us", std::to_string(kCpuPeriod));
    // cpu_quota is already microseconds per 100 ms period (exec.h).
    dir.write("cpu.cfs_quota_us", std::to_string(limits.cpu_quota));
  }
  if (limits.cpu_shares > 0) dir.write("cpu.shares", std::to_string(limits.cpu_shares));
}

}  // namespace

CgroupV1::CgroupV1(const Limits& limits, const std::string& name,
                   std::shared_ptr<const SandboxCgroup> parent)
    : SandboxCgroup(std::move(parent)) {
  // memory and pids are always joined: pids is what kill_all() walks, memory keeps the
  // accounting per exec. cpu when a cpu limit is asked for, here or by the parent (whose
  // limit must hold below it).
  controllers_ = {"memory", "pids"};
  const bool parent_cpu = this->parent() && !this->parent()->dir_for("cpu").empty();
  if (limits.cpu_quota > 0 || limits.cpu_shares > 0 || parent_cpu) controllers_.push_back("cpu");
  for (const std::string& controller : controllers_)
    dirs_.emplace_back(base_for(controller) + "/" + name);

  apply_memory(dirs_[0], limits.memory_bytes);
  if (limits.pids_limit > 0) dirs_[1].write("pids.max", std::to_string(limits.pids_limit));
  if (dirs_.size() > 2) apply_cpu(dirs_[2], limits);
}

std::string CgroupV1::base_for(const std::string& controller) const {
  if (parent()) {
    std::string parent_dir = parent()->dir_for(controller);
    if (!parent_dir.empty()) return parent_dir;
  }
  return controller_base(controller);
}

std::string CgroupV1::dir_for(const std::string& controller) const {
  for (std::size_t i = 0; i < controllers_.size(); ++i)
    if (controllers_[i] == controller) return dirs_[i].path();
  return "";
}

std::vector<int> CgroupV1::join_fds() const {
  std::vector<int> fds;
  for (const CgroupDir& dir : dirs_) fds.push_back(dir.procs_fd());
  return fds;
}

void CgroupV1::kill_all() {
  for (const CgroupDir& dir : dirs_) dir.kill_members_until_empty();
}

std::vector<pid_t> CgroupV1::members() const {
  // Every process joins every directory, so the first (memory) lists them all.
  return dirs_.front().members();
}

LimitHits CgroupV1::limit_hits() const {
  // v1 keeps the OOM kill count in memory.oom_control (Linux 4.13+).
  return {.oom_kills =
              read_cgroup_counter(dirs_[0].path() + "/memory.oom_control", "oom_kill").value_or(0),
          .pids_refused = read_cgroup_counter(dirs_[1].path() + "/pids.events", "max").value_or(0)};
}

std::vector<std::string> CgroupV1::paths() const {
  std::vector<std::string> result;
  for (const CgroupDir& dir : dirs_) result.push_back(dir.path());
  return result;
}

}  // namespace agentfense::runtime
