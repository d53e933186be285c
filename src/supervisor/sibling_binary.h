// The AgentFense binaries are installed side by side: `agentfense` (CLI and the fs
// process) and `agentfense-server`. Each finds the other next to its own executable,
// never through PATH, so a PATH entry cannot substitute another program.
#pragma once

#include <string>

namespace agentfense::supervisor {

// "<directory of /proc/self/exe>/<name>". Throws UserError when it is not an executable
// file there.
std::string sibling_binary(const std::string& name);

}  // namespace agentfense::supervisor
