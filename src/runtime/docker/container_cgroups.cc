#include "runtime/docker/container_cgroups.h"

#include <unistd.h>

#include <initializer_list>

#include "common/errors.h"
#include "runtime/cgroup_places.h"

namespace agentfense::runtime::docker {
namespace {

// The hierarchies a container's limits are counted in.
constexpr std::initializer_list<const char*> kControllers = {"pids", "memory"};

}  // namespace

ContainerCgroups locate_container_cgroups(pid_t init_pid) {
  const CgroupPlaces mounts = cgroup_mounts(kControllers);
  const CgroupPlaces paths = cgroups_of(init_pid, kControllers);
  ContainerCgroups found;
  if (mounts.count("") && paths.count("")) {
    found.tracking_parent = cgroup_host_path(mounts.at(""), paths.at(""));
    found.unified = true;
  } else if (mounts.count("pids") && paths.count("pids")) {
    found.tracking_parent = cgroup_host_path(mounts.at("pids"), paths.at("pids"));
  } else {
    throw SystemError("container init " + std::to_string(init_pid) +
                          ": neither a cgroup v2 nor a v1 pids hierarchy holds it",
                      ENOENT);
  }
  if (mounts.count("memory") && paths.count("memory")) {
    found.oom_events =
        cgroup_host_path(mounts.at("memory"), paths.at("memory")) + "/memory.oom_control";
  } else if (found.unified &&
             ::access((found.tracking_parent + "/memory.events").c_str(), R_OK) == 0) {
    found.oom_events = found.tracking_parent + "/memory.events";
  }
  if (mounts.count("pids") && paths.count("pids")) {
    found.pids_events = cgroup_host_path(mounts.at("pids"), paths.at("pids")) + "/pids.events";
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
