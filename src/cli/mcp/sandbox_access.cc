#include "cli/mcp/sandbox_access.h"

#include <cmath>
#include <mutex>

#include "cli/mcp/tool_table.h"

namespace agentfense::cli::mcp {

std::chrono::milliseconds SandboxAccess::timeout_of(const nlohmann::json& args) const {
  double seconds = defaults_.timeout_seconds;
  if (const auto it = args.find("timeout"); it != args.end() && !it->is_null()) {
    seconds = it->get<double>();
    if (!(seconds > 0) || !std::isfinite(seconds))
      throw ToolFailure("timeout must be a positive number of seconds");
    if (seconds > defaults_.max_timeout_seconds)
      throw ToolFailure("timeout may be at most " +
                        std::to_string(static_cast<long>(defaults_.max_timeout_seconds)) +
                        " seconds (agentfense mcp --max-timeout)");
  }
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
}

runtime::ExecResult SandboxAccess::exec(runtime::ExecSpec spec) {
  sandbox_.prepare(spec);
  spec.limits = defaults_.limits;
  spec.network = defaults_.network;
  spec.inherit_stdio = false;  // stdout is the MCP channel (stdio transport)
  if (spec.output_limit > defaults_.output_limit) spec.output_limit = defaults_.output_limit;
  std::shared_lock lock(activity_);
  return runtime::run_sandboxed(spec);
}

runtime::SessionSpec SandboxAccess::session_spec() const {
  runtime::ExecSpec ids;
  sandbox_.prepare(ids);
  runtime::SessionSpec spec;
  spec.workspace_fd = ids.workspace_fd;
  spec.host_uid = ids.host_uid;
  spec.host_gid = ids.host_gid;
  spec.limits = defaults_.limits;
  spec.network = defaults_.network;
  spec.output_limit = defaults_.output_limit;
  return spec;
}

}  // namespace agentfense::cli::mcp
