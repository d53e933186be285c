// agentfense-fs: the per-sandbox fs process (`mount`) and its warm-up walker
// (`prewarm`), the same code as those `agentfense` subcommands in a binary without the
// CLI's HTTP, TLS and Docker libraries. It loads in about a third of the time (12 shared
// libraries instead of 42), which every sandbox start pays twice (the fs process, then
// its walker). Supervisors use it when it is installed next to them, else `agentfense`
// (supervisor/sibling_binary.h).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <map>

#include "cli/commands.h"
#include "common/errors.h"

int main(int argc, char** argv) {
  using namespace agentfense;
  CLI::App app{"agentfense-fs: the fs process of an agentfense sandbox"};
  app.require_subcommand(1);
  const std::map<std::string, cli::Command> commands = {
      {"mount", cli::add_mount_command(app)},
      {"prewarm", cli::add_prewarm_command(app)},
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    if (error.get_exit_code() == 0) return app.exit(error);
    std::fprintf(stderr, "agentfense-fs: %s\n", error.what());
    return 2;
  }
  try {
    for (const CLI::App* sub : app.get_subcommands()) return commands.at(sub->get_name())();
  } catch (const UserError& error) {
    std::fprintf(stderr, "agentfense-fs: %s\n", error.what());
    return 2;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "agentfense-fs: error: %s\n", error.what());
    return 1;
  }
  return 2;
}
