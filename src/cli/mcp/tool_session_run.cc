// session_run: a command in a persistent bash (cwd, variables and functions carry over).
#include <mutex>

#include "cli/mcp/command_output.h"
#include "cli/mcp/progress.h"
#include "cli/mcp/sandbox_access.h"
#include "cli/mcp/shell_pool.h"
#include "cli/mcp/tool_table.h"
#include "runtime/kept_output.h"

namespace agentfense::cli::mcp {
namespace {

json session_run(const json& args, ToolCall& call) {
  const std::string name = args.value("session", "default");
  const auto timeout = call.sandbox.timeout_of(args);
  const double seconds = static_cast<double>(timeout.count()) / 1000.0;
  bool opened = false;
  const auto pooled = call.shells.get(name, opened);
  OutputMeter meter;
  const ProgressTicker ticker(call.progress, seconds,
                              [&meter] { return meter.describe("running"); });
  runtime::ExecResult result;
  runtime::KeptOutput kept;
  pooled->thread.run([&] {
    std::shared_lock lock(call.sandbox.activity());
    result = pooled->shell->exec(
        args.at("command").get<std::string>(), timeout,
        [&meter, &kept](runtime::Stream which, std::string_view chunk) {
          meter.add(chunk);
          kept.keep(which, chunk);
        },
        call.cancel_fd);
  });
  kept.fill(result);
  json out = command_output(result, seconds);
  out["session"] = name;
  out["new_session"] = opened;
  out["session_open"] = pooled->shell->alive();
  return out;
}

}  // namespace

Tool session_run_tool() {
  json properties = command_output_properties();
  properties["session"] = {{"type", "string"}};
  properties["new_session"] = {{"type", "boolean"},
                               {"description", "The shell was started for this command"}};
  properties["session_open"] = {{"type", "boolean"},
                                {"description", "false once the command ended the shell (exit)"}};
  json required = command_output_required();
  for (const char* name : {"session", "new_session", "session_open"}) required.push_back(name);
  return {
      .name = "session_run",
      .title = "Run a command in a persistent shell",
      .description =
          "Runs a bash command in a persistent shell inside the sandbox: the working "
          "directory, variables and functions carry over to the next session_run with the "
          "same session name. The shell starts in /workspace under the same policy as the "
          "run tool. A timeout kills the command, not the shell; `exit` ends the shell and "
          "the next call starts a fresh one.",
      .input_schema = {{"type", "object"},
                       {"properties",
                        {{"command", {{"type", "string"}, {"description", "bash command line(s)"}}},
                         {"timeout",
                          {{"type", "number"},
                           {"description",
                            "Seconds before the command is killed (default: the server's)"}}},
                         {"session",
                          {{"type", "string"},
                           {"description", "Name of the shell to use (default \"default\")"}}}}},
                       {"required", {"command"}},
                       {"additionalProperties", false}},
      .output_schema = {{"type", "object"}, {"properties", properties}, {"required", required}},
      .handler = session_run,
  };
}

}  // namespace agentfense::cli::mcp
