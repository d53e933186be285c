// `agentfense server ARGS...` runs `agentfense-server ARGS...` (installed next to this
// binary), `agentfense server keys add|list|revoke` included (server/auth/keys_command.h). The
// server is its own executable so that this CLI, and every fs process it starts, stays free of the
// server's gRPC and protobuf libraries (faster to start, smaller per sandbox).
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "cli/commands.h"
#include "common/errors.h"
#include "supervisor/sibling_binary.h"

namespace agentfense::cli {

Command add_server_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "server",
      "Serve the gRPC (127.0.0.1:9000) and REST (127.0.0.1:8080) API, or manage its API keys "
      "with `server keys add|list|revoke` (runs agentfense-server)");
  // Everything after `server`, --help included, belongs to agentfense-server.
  cmd->prefix_command();
  cmd->set_help_flag();
  cmd->allow_extras();
  return [cmd]() -> int {
    const std::string program = supervisor::sibling_binary("agentfense-server");
    std::vector<std::string> args = {program};
    for (const std::string& arg : cmd->remaining()) args.push_back(arg);
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    ::execv(program.c_str(), argv.data());
    throw SystemError("exec " + program, errno);
  };
}

}  // namespace agentfense::cli
