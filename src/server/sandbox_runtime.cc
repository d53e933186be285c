#include "server/sandbox_runtime.h"

#include "common/errors.h"
#include "common/log.h"
#include "runtime/docker/docker_boundary.h"
#include "runtime/docker/engine_errors.h"
#include "runtime/docker/running_container.h"

namespace agentfense::server {
namespace {

namespace docker = runtime::docker;

constexpr std::chrono::seconds kSweepTimeout{5};

}  // namespace

std::string DockerOptions::effective_network_mode() const {
  if (!enable_networking) return "none";
  return network_mode == "none" ? "bridge" : network_mode;
}

void rethrow_runtime_error() {
  try {
    throw;
  } catch (const docker::DockerUnavailable& error) {
    throw ApiError(StatusCode::UNAVAILABLE,
                   std::string("the docker runtime is unavailable: ") + error.what(),
                   kReasonUnimplementedRuntime);
  } catch (const docker::ImageNotFound& error) {
    throw ApiError(StatusCode::FAILED_PRECONDITION, error.what(), kReasonImageNotFound);
  } catch (const docker::ContainerGone& error) {
    throw ApiError(StatusCode::FAILED_PRECONDITION,
                   std::string(error.what()) + "; stop and start the sandbox again",
                   kReasonSandboxNotRunning);
  } catch (const docker::EngineError& error) {
    // 400: dockerd refused a value of the request (a memory limit below its 6 MB, ...).
    if (error.status() == 400)
      throw ApiError(StatusCode::INVALID_ARGUMENT, std::string("dockerd refused: ") + error.what());
    throw ApiError(StatusCode::UNAVAILABLE, std::string("dockerd refused: ") + error.what(),
                   kReasonUnimplementedRuntime);
  }
}

std::unique_ptr<runtime::Boundary> make_boundary(const SandboxRuntime& runtime,
                                                 const BoundaryPlan& plan) {
  if (runtime.type != v1::RUNTIME_TYPE_DOCKER)
    // The sandbox's limits bound all of its commands and sessions together, as the
    // docker runtime's one container does (docs/security.md, "Resources").
    return runtime::make_bwrap_boundary({.reuse_boundary = true, .sandbox_limits = plan.limits});
  return with_runtime_errors([&] {
    return docker::make_docker_boundary({.host = runtime.docker.host,
                                         .image = runtime.image,
                                         .network_mode = runtime.docker.effective_network_mode(),
                                         .container_name = "agentfense-" + plan.sandbox_id,
                                         .sandbox_id = plan.sandbox_id,
                                         .instance = runtime.docker.instance,
                                         .workspace = plan.workspace,
                                         .uid = plan.uid,
                                         .gid = plan.gid,
                                         .id_range = plan.id_range,
                                         .limits = plan.limits});
  });
}

void check_runtime_available(const SandboxRuntime& runtime) {
  if (runtime.type != v1::RUNTIME_TYPE_DOCKER) return;
  // A malformed image reference or docker host is a UserError: INVALID_ARGUMENT.
  with_runtime_errors(
      [&] { docker::require_image(docker::EngineClient(runtime.docker.host), runtime.image); });
}

int sweep_containers(const DockerOptions& options) {
  try {
    const docker::EngineClient engine(options.host);
    if (engine.call("GET", "/_ping", nullptr, kSweepTimeout).status != 200) return 0;
    return docker::remove_containers_of(engine, options.instance);
  } catch (const std::exception& error) {
    log::info("docker.sweep_skipped", {{"host", options.host}, {"reason", error.what()}});
    return 0;
  }
}

}  // namespace agentfense::server
