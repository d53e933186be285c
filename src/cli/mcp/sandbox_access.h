// The one sandbox `agentfense mcp` serves, as its tools use it. Two kinds: a local
// sandbox over DIR (local_access.h) and a sandbox of a running agentfense server
// (remote_access.h); the tools see only this interface, so their schemas and errors are
// the same over both. Commands run while holding the activity lock shared; commit and
// discard take it exclusively, so a commit never takes a file a running command of this
// MCP server is still writing (as the server's LiveSandbox does for its own calls).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <nlohmann/json.hpp>
#include <shared_mutex>

#include "cli/mcp/tool_shell.h"
#include "layer/control_protocol.h"
#include "policy/policy.h"
#include "runtime/exec.h"

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
  explicit SandboxAccess(ToolDefaults defaults) : defaults_(std::move(defaults)) {}
  virtual ~SandboxAccess() = default;
  SandboxAccess(const SandboxAccess&) = delete;
  SandboxAccess& operator=(const SandboxAccess&) = delete;

  const ToolDefaults& defaults() const { return defaults_; }
  virtual const policy::Policy& policy() const = 0;

  // The call's "timeout" argument (seconds) or the default; throws ToolFailure for one
  // that is not positive or above the maximum.
  std::chrono::milliseconds timeout_of(const nlohmann::json& args) const;

  // One command to completion inside the sandbox (the spec's argv, env, workdir, stdin,
  // timeout, output_limit, on_output and cancel_fd are the caller's; the rest is the
  // sandbox's).
  virtual runtime::ExecResult exec(runtime::ExecSpec spec) = 0;
  // As exec, with stdin and stdout carried byte for byte (read_file and write_file move
  // binary files through them); output may arrive only at the end.
  virtual runtime::ExecResult exec_binary(runtime::ExecSpec spec) { return exec(std::move(spec)); }

  // A new persistent shell in /workspace (session_run). Called on the thread that will
  // run the shell's commands (shell_pool.h).
  virtual std::unique_ptr<ToolShell> open_shell() = 0;

  std::shared_mutex& activity() { return activity_; }
  // changes, diff, commit, discard.
  virtual layer::control::Reply control(const layer::control::Request& request) = 0;

 private:
  const ToolDefaults defaults_;
  std::shared_mutex activity_;
};

}  // namespace agentfense::cli::mcp
