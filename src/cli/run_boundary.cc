#include "cli/run_boundary.h"

#include <unistd.h>

#include <cstdlib>

#include "common/errors.h"
#include "runtime/docker/docker_boundary.h"

namespace agentfense::cli {

void RuntimeFlags::add_to(CLI::App& cmd) {
  cmd.add_option("--runtime", runtime,
                 "Where commands run: bwrap (default) or docker (a container of --image, "
                 "through dockerd's API)");
  cmd.add_option("--image", image,
                 "The Docker image for --runtime docker (never pulled: it must be in dockerd's "
                 "store already)");
  // As the docker CLI does: $DOCKER_HOST when set (unix:// only), else the usual socket.
  const char* host = std::getenv("DOCKER_HOST");
  docker_host = host && *host ? host : runtime::docker::kDefaultDockerHost;
  cmd.add_option("--docker-host", docker_host,
                 "dockerd's socket for --runtime docker (default $DOCKER_HOST, else "
                 "unix:///var/run/docker.sock)");
}

void RuntimeFlags::check() const {
  if (runtime == "bwrap") {
    if (!image.empty()) throw UserError("--image needs --runtime docker");
    return;
  }
  if (runtime != "docker")
    throw UserError("--runtime must be bwrap or docker, not '" + runtime + "'");
  if (::geteuid() != 0) throw UserError("--runtime docker needs root (cgroups, the mount)");
  if (image.empty()) throw UserError("--runtime docker needs --image IMAGE");
}

std::unique_ptr<runtime::Boundary> make_local_boundary(const RuntimeFlags& flags,
                                                       const runtime::ExecSpec& ids,
                                                       const std::string& workspace, bool network) {
  flags.check();
  if (flags.runtime == "bwrap") return runtime::make_bwrap_boundary();
  const std::string run_id = "run-" + std::to_string(::getpid());
  return runtime::docker::make_docker_boundary({.host = flags.docker_host,
                                                .image = flags.image,
                                                .network_mode = network ? "bridge" : "none",
                                                .container_name = "agentfense-" + run_id,
                                                .sandbox_id = run_id,
                                                .instance = run_id,
                                                .workspace = workspace,
                                                .uid = ids.host_uid,
                                                .gid = ids.host_gid,
                                                .limits = ids.limits});
}

}  // namespace agentfense::cli
