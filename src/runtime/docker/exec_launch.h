// Starting a process in the container so that none of it runs outside its own tracking
// cgroup (tracking_cgroup.h). An exec's first program is a prologue that writes one byte
// (kReadyMarker) to stdout and then waits for a line on stdin. The byte says the process
// exists; dockerd then names its host pid; we move the pid into its cgroup and open a
// pidfd on it; only then may the caller send the line that lets the real work begin.
// Nothing the prologue's process starts can precede the move.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "runtime/docker/container_cgroups.h"
#include "runtime/docker/engine_client.h"
#include "runtime/docker/exec_stream.h"
#include "runtime/docker/tracking_cgroup.h"

namespace agentfense::runtime::docker {

inline constexpr char kReadyMarker = '.';

// What starting execs in one running container takes.
struct ExecTarget {
  const EngineClient* engine = nullptr;
  std::string container_id;
  std::string user;   // "uid:gid" every exec runs as
  std::string scope;  // the helper every exec starts through ("" = none; container_scope.h)
  ContainerCgroups cgroups;
};

// A process held at its prologue's read, inside its own cgroup.
struct LaunchedExec {
  std::string id;
  std::unique_ptr<ExecStream> stream;  // no sink set yet
  std::unique_ptr<TrackingCgroup> cgroup;
  pid_t pid = -1;  // host pid
  UniqueFd pidfd;
};

// The process never got to its prologue (no /bin/sh in the image, ...): what dockerd said
// and the exit code it reports.
struct LaunchFailure {
  int exit_code = 126;
  std::string message;
};

struct Launch {
  std::optional<LaunchedExec> exec;  // set unless `failure` is
  LaunchFailure failure;
};

// Throws ContainerGone when the container is not running any more, DockerUnavailable as
// EngineClient does, SystemError when the process cannot be moved into its cgroup.
Launch launch_exec(const ExecTarget& target, const std::vector<std::string>& argv,
                   const std::string& kind, std::chrono::steady_clock::time_point deadline);

// The exit code dockerd recorded for exec `id` once its process has exited (it may take
// dockerd a moment to notice); nullopt when it still runs at `deadline`.
std::optional<int> exec_exit_code(const EngineClient& engine, const std::string& id,
                                  std::chrono::steady_clock::time_point deadline);

}  // namespace agentfense::runtime::docker
