// Where a local sandbox's commands run (`agentfense run` and `agentfense mcp`): bubblewrap,
// or one container of --image through dockerd's API (issue 12). The flags and the
// boundary are made in one place so both commands accept and refuse the same things.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "runtime/boundary.h"
#include "runtime/exec.h"

namespace agentfense::cli {

struct RuntimeFlags {
  std::string runtime = "bwrap", image, docker_host;

  // --runtime, --image, --docker-host ($DOCKER_HOST as the docker CLI reads it).
  void add_to(CLI::App& cmd);
  // UserError for a combination that cannot run (before anything is mounted).
  void check() const;
};

// The boundary for commands like `ids` (its host ids and limits) over the mount at
// `workspace`; `network` gives the container a network. A docker container lives as long
// as the boundary and is labelled as this process's ("run-<pid>").
std::unique_ptr<runtime::Boundary> make_local_boundary(const RuntimeFlags& flags,
                                                       const runtime::ExecSpec& ids,
                                                       const std::string& workspace, bool network);

}  // namespace agentfense::cli
