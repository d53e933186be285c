// The AgentFense binaries are installed side by side: `agentfense` (CLI and the fs
// process), `agentfense-fs` (the fs process alone, quicker to start) and
// `agentfense-server`. Each finds the other next to its own executable,
// never through PATH, so a PATH entry cannot substitute another program.
#pragma once

#include <string>

namespace agentfense::supervisor {

// "<directory of /proc/self/exe>/<name>". Throws UserError when it is not an executable
// file there.
std::string sibling_binary(const std::string& name);

// The program that serves a sandbox's mount (`PROGRAM mount ...`): agentfense-fs next to
// this executable, else agentfense there (an installation without agentfense-fs). Throws
// UserError when neither is.
std::string fs_program();

}  // namespace agentfense::supervisor
