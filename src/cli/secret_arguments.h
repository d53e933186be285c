// A key given on the command line (`--api-key KEY`) is readable by every local user in
// /proc/<pid>/cmdline (ps) for as long as the command runs: `agentfense mcp --server`
// runs for an agent's whole session. Once parsed, its bytes are overwritten in place
// (the kernel reads cmdline from the process's own memory), and the caller warns that
// the environment variable is the way that never shows.
#pragma once

#include <initializer_list>
#include <string_view>

namespace agentfense::cli {

// Overwrites the value of every `FLAG VALUE` and `FLAG=VALUE` in argv[1..argc) for the
// given flags with 'x'. Returns whether one was found.
bool blank_secret_arguments(int argc, char** argv, std::initializer_list<std::string_view> flags);

}  // namespace agentfense::cli
