// The isolation boundary a sandbox's commands run in, behind one interface: the server
// (LiveSandbox) and `agentfense run` pick bubblewrap or Docker in one place, and
// everything above sees the same contract (DESIGN.md "Runtimes"): an ExecSpec in, an
// ExecResult out, sessions with ShellSession's semantics.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "runtime/exec.h"
#include "runtime/shell_session.h"

namespace agentfense::runtime {

// A persistent shell (see ShellSession for the contract every implementation keeps).
class CommandSession {
 public:
  using OutputCallback = std::function<void(Stream, std::string_view)>;
  virtual ~CommandSession() = default;
  virtual ExecResult exec(const std::string& command, std::chrono::milliseconds timeout,
                          const OutputCallback& on_output = {}, int cancel_fd = -1) = 0;
  virtual bool alive() const = 0;
  virtual void close() = 0;
};

class Boundary {
 public:
  virtual ~Boundary() = default;
  // One command to completion (run_sandboxed's contract).
  virtual ExecResult run(const ExecSpec& spec) = 0;
  // Optional: starts, in the background, what run() will need for commands like `spec`
  // (the bwrap exec launcher), so that the first command does not wait for it.
  virtual void prepare(const ExecSpec& spec) { (void)spec; }
  // Optional: the same before the workspace exists (spec.workspace_fd is ignored), so
  // that the boundary starts while the workspace is being mounted; prepare() with the
  // workspace then completes it. Nothing can run in it before that.
  virtual void prepare_before_workspace(const ExecSpec& spec) { (void)spec; }
  // Starts a shell; throws UserError for a bad spec, SystemError when it cannot start.
  virtual std::unique_ptr<CommandSession> open_session(SessionSpec spec) = 0;
};

struct BwrapBoundaryPlan {
  // Commands share one boundary through an exec launcher (a server's sandbox, as root,
  // exec_launcher.h), falling back to a boundary of their own; otherwise each command
  // has one. A session always has a boundary of its own.
  bool reuse_boundary = false;
  // Limits for all of the sandbox's commands and sessions together: one cgroup above
  // theirs (SandboxCgroup::create_for_sandbox), made when the first needs it. Without,
  // each command or session has only its own spec's limits.
  std::optional<Limits> sandbox_limits;
};

std::unique_ptr<Boundary> make_bwrap_boundary(BwrapBoundaryPlan plan = {});

}  // namespace agentfense::runtime
