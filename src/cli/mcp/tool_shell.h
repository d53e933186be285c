// A persistent shell as session_run uses it: a local runtime::ShellSession, or a session
// of a server's sandbox (remote_access.h).
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "runtime/exec.h"

namespace agentfense::cli::mcp {

class ToolShell {
 public:
  using OutputCallback = std::function<void(runtime::Stream, std::string_view)>;
  virtual ~ToolShell() = default;
  // As runtime::ShellSession::exec: a timeout kills the command, not the shell; a command
  // that ends the shell (`exit`) returns its status and the shell is no longer alive.
  virtual runtime::ExecResult exec(const std::string& command, std::chrono::milliseconds timeout,
                                   const OutputCallback& on_output, int cancel_fd) = 0;
  virtual bool alive() const = 0;
  virtual void close() = 0;  // idempotent
};

}  // namespace agentfense::cli::mcp
