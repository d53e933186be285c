// The one place a running sandbox's runtime is chosen (DESIGN.md "Runtimes"): bubblewrap,
// or a container of the sandbox's image through dockerd. LiveSandbox asks for a boundary
// and uses it without knowing which; docker failures become API errors here too.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "common/id_range.h"
#include "runtime/boundary.h"
#include "server/api.h"

namespace agentfense::server {

// runtime.docker.* as the server runs with them.
struct DockerOptions {
  std::string host = "unix:///var/run/docker.sock";
  std::string default_image = "agentfense-runtime:latest";
  // The container's network: "none" unless enable_networking, then network_mode
  // ("bridge" when that says "none").
  std::string network_mode = "none";
  bool enable_networking = false;
  std::string instance;  // labels this server's containers (server_instance.h)

  std::string effective_network_mode() const;
};

struct SandboxRuntime {
  v1::RuntimeType type = v1::RUNTIME_TYPE_BWRAP;
  std::string image;  // docker: the image (already defaulted)
  DockerOptions docker;
};

struct BoundaryPlan {
  std::string sandbox_id;
  std::string workspace;  // host path of the sandbox's FUSE mount
  uid_t uid = 0;          // the sandbox's leased ids
  gid_t gid = 0;
  IdRange id_range = kDefaultIdRange;
  runtime::Limits limits;
};

// Starts what the runtime needs for the sandbox's whole run (for docker: its container).
// Throws ApiError for docker failures (see rethrow_runtime_error).
std::unique_ptr<runtime::Boundary> make_boundary(const SandboxRuntime& runtime,
                                                 const BoundaryPlan& plan);

// Checks, before a sandbox is recorded, that its runtime can run it: for docker, dockerd
// answers and has the image. Throws ApiError.
void check_runtime_available(const SandboxRuntime& runtime);

// Removes the containers a previous process of this server left (kill -9, crash). Never
// throws: a dockerd that is not there has nothing of ours running. Returns how many.
int sweep_containers(const DockerOptions& docker);

// Inside a catch block: rethrows a docker runtime failure as ApiError -
// DockerUnavailable -> UNAVAILABLE RUNTIME_UNAVAILABLE, ImageNotFound ->
// FAILED_PRECONDITION IMAGE_NOT_FOUND, ContainerGone -> FAILED_PRECONDITION
// SANDBOX_NOT_RUNNING, EngineError -> INVALID_ARGUMENT for a refused value (400), else
// UNAVAILABLE; anything else as it is.
[[noreturn]] void rethrow_runtime_error();

// Runs `operation`, mapping docker failures as rethrow_runtime_error() does.
template <typename Operation>
auto with_runtime_errors(Operation&& operation) -> decltype(operation()) {
  try {
    return operation();
  } catch (...) {
    rethrow_runtime_error();
  }
}

}  // namespace agentfense::server
