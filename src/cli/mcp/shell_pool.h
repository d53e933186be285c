// The persistent shells of one MCP session (session_run): named, opened on first use,
// reopened after `exit`, closed with the MCP session. At most kMaxShells at once, each a
// bash inside the sandbox (tool_shell.h).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "cli/mcp/tool_shell.h"
#include "supervisor/spawner_thread.h"

namespace agentfense::cli::mcp {

class SandboxAccess;

// A shell with the thread that starts it and runs its commands. Each tool call runs on
// a thread that ends with the call, and the shell's PR_SET_PDEATHSIG fires when the
// thread that forked it exits (supervisor/spawner_thread.h): so the shell, and any
// replacement a stuck timeout makes, is forked from this thread, which lives as long as
// the shell.
struct PooledShell {
  supervisor::SpawnerThread thread;
  std::unique_ptr<ToolShell> shell;  // destroyed before the thread
};

class ShellPool {
 public:
  static constexpr std::size_t kMaxShells = 8;

  explicit ShellPool(SandboxAccess& sandbox) : sandbox_(sandbox) {}
  ShellPool(const ShellPool&) = delete;
  ShellPool& operator=(const ShellPool&) = delete;
  ~ShellPool() { close_all(); }

  // The live shell called `name`; `opened` says whether it was started for this call.
  // Throws ToolFailure beyond kMaxShells.
  std::shared_ptr<PooledShell> get(const std::string& name, bool& opened);
  void close_all();

 private:
  SandboxAccess& sandbox_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<PooledShell>> shells_;
};

}  // namespace agentfense::cli::mcp
