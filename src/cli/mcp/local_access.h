// SandboxAccess over a LocalSandbox (`agentfense mcp DIR`): every command gets the
// sandbox's /workspace, host ids, limits and network setting.
#pragma once

#include "cli/local_sandbox.h"
#include "cli/mcp/sandbox_access.h"

namespace agentfense::cli::mcp {

class LocalSandboxAccess final : public SandboxAccess {
 public:
  LocalSandboxAccess(LocalSandbox& sandbox, ToolDefaults defaults)
      : SandboxAccess(std::move(defaults)), sandbox_(sandbox) {}

  const policy::Policy& policy() const override { return sandbox_.policy(); }
  runtime::ExecResult exec(runtime::ExecSpec spec) override;
  std::unique_ptr<ToolShell> open_shell() override;
  layer::control::Reply control(const layer::control::Request& request) override {
    return sandbox_.control(request);
  }

 private:
  LocalSandbox& sandbox_;
};

}  // namespace agentfense::cli::mcp
