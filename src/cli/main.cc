// agentfense: least-privilege filesystem sandbox for AI agents.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <map>

#include "cli/commands.h"
#include "cli/secret_arguments.h"
#include "common/errors.h"
#include "common/open_file_limit.h"

int main(int argc, char** argv) {
  using namespace agentfense;
  CLI::App app{
      "agentfense: run commands over a codebase where every path is none, view, "
      "read or write"};
  app.require_subcommand(1);
  const std::map<std::string, cli::Command> commands = {
      {"run", cli::add_run_command(app)},         {"explain", cli::add_explain_command(app)},
      {"mount", cli::add_mount_command(app)},     {"server", cli::add_server_command(app)},
      {"mcp", cli::add_mcp_command(app)},         {"audit", cli::add_audit_command(app)},
      {"prewarm", cli::add_prewarm_command(app)},
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // --help/--version are "errors" with exit code 0; real ones print one line and exit 2.
    if (error.get_exit_code() == 0) return app.exit(error);
    std::fprintf(stderr, "agentfense: %s\n", error.what());
    return 2;
  }
  if (app.got_subcommand("mcp") || app.got_subcommand("audit")) {
    if (cli::blank_secret_arguments(argc, argv, {"--api-key", "--token"}))
      std::fprintf(stderr,
                   "agentfense: warning: --api-key shows in the process list to other local "
                   "users (it was blanked once read); pass the key in $AGENTFENSE_API_KEY\n");
  }
  raise_open_file_limit();  // change review and commit walk deep trees
  try {
    for (const CLI::App* sub : app.get_subcommands()) return commands.at(sub->get_name())();
  } catch (const UserError& error) {
    std::fprintf(stderr, "agentfense: %s\n", error.what());
    return 2;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "agentfense: error: %s\n", error.what());
    return 1;
  }
  return 2;
}
