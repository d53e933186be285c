#include "cli/mcp/shell_pool.h"

#include "cli/mcp/sandbox_access.h"
#include "cli/mcp/tool_table.h"

namespace agentfense::cli::mcp {

std::shared_ptr<PooledShell> ShellPool::get(const std::string& name, bool& opened) {
  std::lock_guard lock(mu_);
  opened = false;
  auto it = shells_.find(name);
  if (it != shells_.end() && it->second->shell->alive()) return it->second;
  if (it != shells_.end()) shells_.erase(it);  // ended by `exit`: a fresh one below
  if (shells_.size() >= kMaxShells)
    throw ToolFailure("at most " + std::to_string(kMaxShells) +
                      " shell sessions are open at once; end one with `exit`");
  auto shell = std::make_shared<PooledShell>();
  shell->thread.run([&] { shell->shell = sandbox_.open_shell(); });
  shells_[name] = shell;
  opened = true;
  return shell;
}

void ShellPool::close_all() {
  std::map<std::string, std::shared_ptr<PooledShell>> shells;
  {
    std::lock_guard lock(mu_);
    shells.swap(shells_);
  }
  for (auto& [name, pooled] : shells) pooled->shell->close();
}

}  // namespace agentfense::cli::mcp
