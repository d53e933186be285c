#include "runtime/docker/tracking_cgroup.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

namespace agentfense::runtime::docker {
namespace {

constexpr int kMaxKillRounds = 500;  // x 2 ms, as for bwrap sessions
constexpr auto kKillRoundPause = std::chrono::milliseconds(2);

}  // namespace

TrackingCgroup::TrackingCgroup(const ContainerCgroups& container, const std::string& name)
    : dir_(container.tracking_parent + "/" + name), unified_(container.unified) {}

void TrackingCgroup::adopt(pid_t pid) const {
  dir_.write("cgroup.procs", std::to_string(pid));
}

void TrackingCgroup::kill_all() const {
  // cgroup.kill ends the subtree atomically, forks included; the loop then waits for it
  // to empty (and is the whole job on v1).
  if (unified_ && dir_.has_file("cgroup.kill")) dir_.write("cgroup.kill", "1");
  dir_.kill_members_until_empty();
}

void TrackingCgroup::kill_all_except(pid_t keep) const {
  for (int round = 0; round < kMaxKillRounds; ++round) {
    bool killed_any = false;
    for (const pid_t pid : dir_.members()) {
      if (pid == keep) continue;
      (void)::kill(pid, SIGKILL);  // ESRCH: it exited meanwhile, the expected race
      killed_any = true;
    }
    if (!killed_any) return;
    std::this_thread::sleep_for(kKillRoundPause);
  }
}

std::string next_tracking_name(const std::string& kind) {
  static std::atomic<unsigned> counter{0};
  return "agentfense-" + kind + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

}  // namespace agentfense::runtime::docker
