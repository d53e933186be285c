#include "cli/mcp/local_access.h"

#include <mutex>

#include "runtime/shell_session.h"

namespace agentfense::cli::mcp {
namespace {

class LocalShell final : public ToolShell {
 public:
  explicit LocalShell(runtime::SessionSpec spec) : shell_(std::move(spec)) {}
  runtime::ExecResult exec(const std::string& command, std::chrono::milliseconds timeout,
                           const OutputCallback& on_output, int cancel_fd) override {
    return shell_.exec(command, timeout, on_output, cancel_fd);
  }
  bool alive() const override { return shell_.alive(); }
  void close() override { shell_.close(); }

 private:
  runtime::ShellSession shell_;
};

}  // namespace

runtime::ExecResult LocalSandboxAccess::exec(runtime::ExecSpec spec) {
  sandbox_.prepare(spec);
  spec.limits = defaults().limits;
  spec.network = defaults().network;
  spec.inherit_stdio = false;  // stdout is the MCP channel (stdio transport)
  if (spec.output_limit > defaults().output_limit) spec.output_limit = defaults().output_limit;
  std::shared_lock lock(activity());
  return runtime::run_sandboxed(spec);
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
  return std::make_unique<LocalShell>(std::move(spec));
}

}  // namespace agentfense::cli::mcp
