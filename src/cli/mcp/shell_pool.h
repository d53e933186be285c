// The persistent shells of one MCP session (session_run): named, opened on first use,
// reopened after `exit`, closed with the MCP session. At most kMaxShells at once, each a
// bash inside the sandbox's boundary (runtime/shell_session.h).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "runtime/shell_session.h"

namespace agentfense::cli::mcp {

class SandboxAccess;

class ShellPool {
 public:
  static constexpr std::size_t kMaxShells = 8;

  explicit ShellPool(SandboxAccess& sandbox) : sandbox_(sandbox) {}
  ShellPool(const ShellPool&) = delete;
  ShellPool& operator=(const ShellPool&) = delete;
  ~ShellPool() { close_all(); }

  // The live shell called `name`; `opened` says whether it was started for this call.
  // Throws ToolFailure beyond kMaxShells.
  std::shared_ptr<runtime::ShellSession> get(const std::string& name, bool& opened);
  void close_all();

 private:
  SandboxAccess& sandbox_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<runtime::ShellSession>> shells_;
};

}  // namespace agentfense::cli::mcp
