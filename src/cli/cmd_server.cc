// `agentfense server` (also installed as `agentfense-server`): the gRPC + REST service.
// Runs with no config file; --config FILE can set every key (DESIGN.md "Configuration")
// and the flags below override the essentials.
#include "cli/commands.h"
#include "server/config/config.h"
#include "server/server_app.h"

namespace agentfense::cli {
namespace {

struct ServerArgs {
  std::string config_file;
  server::Overrides overrides;
};

// CLI11 cannot bind std::optional<std::string> directly in every version: bind a string
// and record whether the flag was given.
void add_override(CLI::App& cmd, const std::string& flag, std::optional<std::string>& target,
                  const std::string& help) {
  cmd.add_option_function<std::string>(
      flag, [&target](const std::string& value) { target = value; }, help);
}

}  // namespace

Command add_server_command(CLI::App& app) {
  auto args = std::make_shared<ServerArgs>();
  CLI::App* cmd = app.add_subcommand("server", "Serve the gRPC (:9000) and REST (:8080) API");
  cmd->add_option("--config", args->config_file, "YAML configuration file");
  add_override(*cmd, "--grpc-addr", args->overrides.grpc_addr, "gRPC listen address HOST:PORT");
  add_override(*cmd, "--http-addr", args->overrides.http_addr, "REST listen address HOST:PORT");
  add_override(*cmd, "--data-dir", args->overrides.data_dir,
               "Directory for codebases, sandbox state and the database");
  add_override(*cmd, "--log-level", args->overrides.log_level, "debug, info, warn or error");
  add_override(*cmd, "--log-format", args->overrides.log_format, "text or json");
  return [args] {
    server::Config config = server::load_config(args->config_file);
    server::apply_overrides(config, args->overrides);
    return server::run_server(config);
  };
}

}  // namespace agentfense::cli
