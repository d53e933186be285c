// Each subcommand registers its flags on the CLI::App and returns the callback that runs
// it; the callback's return value is the process exit status.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace agentfense::cli {

using Command = std::function<int()>;

Command add_run_command(CLI::App& app);
Command add_explain_command(CLI::App& app);
Command add_mount_command(CLI::App& app);
Command add_server_command(CLI::App& app);
Command add_mcp_command(CLI::App& app);
Command add_audit_command(CLI::App& app);
Command add_prewarm_command(CLI::App& app);

}  // namespace agentfense::cli
