// agentfense-server: the gRPC (:9000) + REST (:8080) service. `agentfense server ARGS`
// runs this binary with ARGS. Runs with no config file; --config FILE can set every key
// (DESIGN.md "Configuration") and the flags below override the essentials.
// `keys add|list|revoke` manages the API keys file instead (auth/keys_command.h).
#include <CLI/CLI.hpp>
#include <cstdio>

#include "common/errors.h"
#include "common/open_file_limit.h"
#include "server/auth/keys_command.h"
#include "server/config/config.h"
#include "server/server_app.h"

namespace {

using agentfense::server::Overrides;

void add_override(CLI::App& app, const std::string& flag, std::optional<std::string>& target,
                  const std::string& help) {
  app.add_option_function<std::string>(
      flag, [&target](const std::string& value) { target = value; }, help);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace agentfense;
  CLI::App app{"agentfense-server: the AgentFense gRPC and REST API"};
  std::string config_file;
  Overrides overrides;
  app.add_option("--config", config_file, "YAML configuration file");
  add_override(app, "--grpc-addr", overrides.grpc_addr, "gRPC listen address HOST:PORT");
  add_override(app, "--http-addr", overrides.http_addr, "REST listen address HOST:PORT");
  add_override(app, "--data-dir", overrides.data_dir,
               "Directory for codebases, sandbox state and the database");
  add_override(app, "--log-level", overrides.log_level, "debug, info, warn or error");
  add_override(app, "--log-format", overrides.log_format, "text or json");
  const std::function<int()> keys = server::add_keys_command(app, config_file);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    if (error.get_exit_code() == 0) return app.exit(error);
    std::fprintf(stderr, "agentfense-server: %s\n", error.what());
    return 2;
  }
  // Offline review and commit, destroy, and recursive listings walk trees as deep as a
  // sandbox may nest (an fd per level), as `agentfense` does when it runs this binary.
  raise_open_file_limit();
  try {
    if (const int status = keys(); status >= 0) return status;
    server::Config config = server::load_config(config_file);
    server::apply_overrides(config, overrides);
    return server::run_server(config);
  } catch (const UserError& error) {
    std::fprintf(stderr, "agentfense-server: %s\n", error.what());
    return 2;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "agentfense-server: error: %s\n", error.what());
    return 1;
  }
}
