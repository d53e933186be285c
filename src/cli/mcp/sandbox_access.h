// The one sandbox `agentfense mcp` serves, as its tools use it: every command gets the
// sandbox's /workspace, host ids, limits and network setting, and runs while holding the
// sandbox's activity lock shared; commit and discard take it exclusively, so a commit
// never takes a file a running command is still writing (as the server's LiveSandbox).
#pragma once

#include <chrono>
#include <cstddef>
#include <nlohmann/json.hpp>
#include <shared_mutex>

#include "cli/local_sandbox.h"
#include "runtime/exec.h"
#include "runtime/shell_session.h"

namespace agentfense::cli::mcp {

struct ToolDefaults {
  double timeout_seconds = 300;       // a call that names no timeout
  double max_timeout_seconds = 1800;  // the most a call may ask for
  runtime::Limits limits;             // per command; per session for session_run
  bool network = false;
  std::size_t output_limit = 1 << 20;  // per stream: what a model can usefully read
  bool allow_commit = false;
};

class SandboxAccess {
 public:
  SandboxAccess(LocalSandbox& sandbox, ToolDefaults defaults)
      : sandbox_(sandbox), defaults_(std::move(defaults)) {}

  const ToolDefaults& defaults() const { return defaults_; }
  const policy::Policy& policy() const { return sandbox_.policy(); }

  // The call's "timeout" argument (seconds) or the default; throws ToolFailure for one
  // that is not positive or above the maximum.
  std::chrono::milliseconds timeout_of(const nlohmann::json& args) const;

  // One command to completion inside the sandbox (the spec's argv, env, workdir, stdin,
  // timeout and cancel_fd are the caller's; the rest is filled in here).
  runtime::ExecResult exec(runtime::ExecSpec spec);

  runtime::SessionSpec session_spec() const;
  std::shared_mutex& activity() { return activity_; }
  layer::control::Reply control(const layer::control::Request& request) {
    return sandbox_.control(request);
  }

 private:
  LocalSandbox& sandbox_;
  const ToolDefaults defaults_;
  std::shared_mutex activity_;
};

}  // namespace agentfense::cli::mcp
