#include "cli/mcp/sandbox_access.h"

#include <cmath>

#include "cli/mcp/tool_table.h"

namespace agentfense::cli::mcp {

std::chrono::milliseconds SandboxAccess::timeout_of(const nlohmann::json& args) const {
  double seconds = defaults().timeout_seconds;
  if (const auto it = args.find("timeout"); it != args.end() && !it->is_null()) {
    seconds = it->get<double>();
    if (!(seconds > 0) || !std::isfinite(seconds))
      throw ToolFailure("timeout must be a positive number of seconds");
    if (seconds > defaults().max_timeout_seconds)
      throw ToolFailure("timeout may be at most " +
                        std::to_string(static_cast<long>(defaults().max_timeout_seconds)) +
                        " seconds (agentfense mcp --max-timeout)");
  }
  // Rounded up: a positive timeout under 1 ms truncated to 0 ms, which the runtimes take
  // for "no deadline", and let the agent run past --max-timeout.
  return std::chrono::milliseconds(static_cast<long long>(std::ceil(seconds * 1000)));
}

}  // namespace agentfense::cli::mcp
