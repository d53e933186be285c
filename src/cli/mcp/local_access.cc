#include "cli/mcp/local_access.h"

#include <mutex>

namespace agentfense::cli::mcp {
namespace {

class LocalShell final : public ToolShell {
 public:
  explicit LocalShell(std::unique_ptr<runtime::CommandSession> shell) : shell_(std::move(shell)) {}
  runtime::ExecResult exec(const std::string& command, std::chrono::milliseconds timeout,
                           const OutputCallback& on_output, int cancel_fd) override {
    return shell_->exec(command, timeout, on_output, cancel_fd);
  }
  bool alive() const override { return shell_->alive(); }
  void close() override { shell_->close(); }

 private:
  const std::unique_ptr<runtime::CommandSession> shell_;
};

}  // namespace

runtime::ExecResult LocalSandboxAccess::exec(runtime::ExecSpec spec) {
  sandbox_.prepare(spec);
  spec.limits = defaults().limits;
  spec.network = defaults().network;
  spec.inherit_stdio = false;  // stdout is the MCP channel (stdio transport)
  if (spec.output_limit > defaults().output_limit) spec.output_limit = defaults().output_limit;
  std::shared_lock lock(activity());
  return boundary_->run(spec);
}

std::unique_ptr<ToolShell> LocalSandboxAccess::open_shell() {
  runtime::ExecSpec ids;
  sandbox_.prepare(ids);
  runtime::SessionSpec spec;
  spec.workspace_fd = ids.workspace_fd;
  spec.host_uid = ids.host_uid;
  spec.host_gid = ids.host_gid;
  spec.limits = defaults().limits;
  spec.network = defaults().network;
  spec.output_limit = defaults().output_limit;
  return std::make_unique<LocalShell>(boundary_->open_session(std::move(spec)));
}

}  // namespace agentfense::cli::mcp
