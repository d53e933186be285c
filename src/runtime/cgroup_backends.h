// The two cgroup implementations behind SandboxCgroup (see cgroup.h).
#pragma once

#include <string>
#include <vector>

#include "runtime/cgroup.h"
#include "runtime/cgroup_dir.h"
#include "runtime/cgroup_places.h"

namespace agentfense::runtime {

// cgroup v1: one directory per controller hierarchy (memory, pids, cpu).
class CgroupV1 final : public SandboxCgroup {
 public:
  CgroupV1(const Limits& limits, const std::string& name,
           std::shared_ptr<const SandboxCgroup> parent = {});
  std::vector<int> join_fds() const override;
  void kill_all() override;
  std::vector<pid_t> members() const override;
  LimitHits limit_hits() const override;
  std::vector<std::string> paths() const override;
  std::string dir_for(const std::string& controller) const override;

 private:
  // Below the parent's directory of the controller when it has one, else in the shared
  // "agentfense" cgroup of that hierarchy.
  std::string base_for(const std::string& controller) const;

  std::vector<std::string> controllers_;  // memory, pids, then cpu when one is limited
  std::vector<CgroupDir> dirs_;           // one per controllers_ entry
};

inline constexpr const char* kUnifiedRoot = "/sys/fs/cgroup";

// cgroup v2: one directory in the unified hierarchy; cgroup.kill ends the tree at once.
// `unified_root` is where the v2 hierarchy is mounted (tests use a hybrid host's
// /sys/fs/cgroup/unified).
class CgroupV2 final : public SandboxCgroup {
 public:
  CgroupV2(const Limits& limits, const std::string& name,
           const std::string& unified_root = kUnifiedRoot,
           std::shared_ptr<const SandboxCgroup> parent = {});
  std::vector<int> join_fds() const override;
  void kill_all() override;
  std::vector<pid_t> members() const override;
  LimitHits limit_hits() const override;
  std::vector<std::string> paths() const override;
  std::string dir_for(const std::string& controller) const override;

 private:
  CgroupDir dir_;
};

}  // namespace agentfense::runtime
