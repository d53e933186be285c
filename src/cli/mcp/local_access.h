// SandboxAccess over a LocalSandbox (`agentfense mcp DIR`): every command gets the
// sandbox's /workspace, host ids, limits and network setting, and runs in the boundary
// given (bubblewrap, or the container of `--runtime docker`: cli/run_boundary.h).
#pragma once

#include "cli/local_sandbox.h"
#include "cli/mcp/sandbox_access.h"
#include "runtime/boundary.h"

namespace agentfense::cli::mcp {

class LocalSandboxAccess final : public SandboxAccess {
 public:
  LocalSandboxAccess(LocalSandbox& sandbox, std::unique_ptr<runtime::Boundary> boundary,
                     ToolDefaults defaults)
      : SandboxAccess(std::move(defaults)), sandbox_(sandbox), boundary_(std::move(boundary)) {}

  const policy::Policy& policy() const override { return sandbox_.policy(); }
  runtime::ExecResult exec(runtime::ExecSpec spec) override;
  std::unique_ptr<ToolShell> open_shell() override;
  layer::control::Reply control(const layer::control::Request& request) override {
    return sandbox_.control(request);
  }

 private:
  LocalSandbox& sandbox_;
  const std::unique_ptr<runtime::Boundary> boundary_;
};

}  // namespace agentfense::cli::mcp
