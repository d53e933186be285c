// The docker runtime behind the Boundary interface (boundary.h): one container per
// running sandbox (running_container.h), started when the boundary is made and removed
// when it goes; every command is an exec in it (container_exec.h), every session a shell
// in it (docker_session.h).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "common/id_range.h"
#include "runtime/boundary.h"
#include "runtime/docker/engine_client.h"

namespace agentfense::runtime::docker {

struct DockerSandboxPlan {
  std::string host = kDefaultDockerHost;  // dockerd's socket, unix:///...
  std::string image;
  std::string network_mode = "none";
  std::string container_name;  // unique per sandbox ("agentfense-<sandbox id>")
  std::string sandbox_id;      // label
  std::string instance;        // label: who owns it (a server instance, a CLI run)
  std::string workspace;       // host path of the sandbox's FUSE mount
  uid_t uid = 0;               // the sandbox's leased ids: every command runs as them
  gid_t gid = 0;
  IdRange id_range = kDefaultIdRange;  // the keeper's own id is leased from it too
  Limits limits;
};

// Starts the container. Throws ImageNotFound, DockerUnavailable, EngineError, UserError.
std::unique_ptr<Boundary> make_docker_boundary(const DockerSandboxPlan& plan);

}  // namespace agentfense::runtime::docker
