// SandboxAccess over a sandbox of a running agentfense server (`agentfense mcp --server
// URL --sandbox ID`): commands through its Exec, shells through its sessions, changes,
// diff, commit and discard through its review calls. The rules are the server's (read
// once at start, for list_files' `level`); its limits and network setting apply.
#pragma once

#include <optional>

#include "cli/change_review.h"
#include "cli/mcp/sandbox_access.h"
#include "cli/server_client.h"

namespace agentfense::cli::mcp {

class RemoteSandboxAccess final : public SandboxAccess {
 public:
  // Checks that the server answers, knows the key and has the sandbox running; throws
  // UserError naming what was wrong otherwise.
  RemoteSandboxAccess(ServerClient client, std::string sandbox_id, ToolDefaults defaults);

  const policy::Policy& policy() const override { return *policy_; }
  runtime::ExecResult exec(runtime::ExecSpec spec) override;
  runtime::ExecResult exec_binary(runtime::ExecSpec spec) override;
  std::unique_ptr<ToolShell> open_shell() override;
  layer::control::Reply control(const layer::control::Request& request) override;

  // `agentfense mcp --changes` at exit: prints the changes and their diff on stderr
  // (show), commits them (apply) or discards them. True when everything asked for
  // reached the codebase.
  bool review(ChangeMode mode);

 private:
  std::string sandbox_path() const { return "/v1/sandboxes/" + url_escape(sandbox_id_); }
  // One Exec call; `binary`: stdin and stdout travel base64-encoded.
  runtime::ExecResult call_exec(runtime::ExecSpec spec, bool binary);

  ServerClient client_;
  std::string sandbox_id_;
  std::optional<policy::Policy> policy_;
};

}  // namespace agentfense::cli::mcp
