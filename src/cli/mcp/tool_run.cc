// run: one bash command in a fresh shell inside the sandbox.
#include "cli/mcp/command_output.h"
#include "cli/mcp/progress.h"
#include "cli/mcp/sandbox_access.h"
#include "cli/mcp/tool_table.h"
#include "runtime/kept_output.h"

namespace agentfense::cli::mcp {
namespace {

json run(const json& args, ToolCall& call) {
  runtime::ExecSpec spec;
  spec.argv = {"bash", "-c", args.at("command").get<std::string>()};
  spec.workdir = args.value("workdir", "/workspace");
  if (const auto env = args.find("env"); env != args.end())
    spec.env = env->get<std::map<std::string, std::string>>();
  if (const auto in = args.find("stdin"); in != args.end())
    spec.stdin_data = in->get<std::string>();
  spec.timeout = call.sandbox.timeout_of(args);
  spec.cancel_fd = call.cancel_fd;
  OutputMeter meter;
  runtime::KeptOutput kept;
  spec.on_output = [&meter, &kept](runtime::Stream which, std::string_view chunk) {
    meter.add(chunk);
    kept.keep(which, chunk);
  };
  const double seconds = static_cast<double>(spec.timeout.count()) / 1000.0;
  const ProgressTicker ticker(call.progress, seconds,
                              [&meter] { return meter.describe("running"); });
  runtime::ExecResult result = call.sandbox.exec(std::move(spec));
  kept.fill(result);
  return command_output(result, seconds);
}

}  // namespace

Tool run_tool() {
  return {
      .name = "run",
      .title = "Run a command in the sandbox",
      .description =
          "Runs a bash command in a fresh shell inside the sandbox, with the codebase at "
          "/workspace (the default working directory). Paths the sandbox's policy hides do "
          "not exist there; some files can be listed but not read (Permission denied); "
          "writes go to a layer kept for review (see the changes and diff tools) and only "
          "where the policy allows writing. No network unless the server allows it. "
          "A non-zero exit_code is a normal result; a command that runs past its timeout is "
          "killed with every process it started and reported as an error.",
      .input_schema =
          {{"type", "object"},
           {"properties",
            {{"command", {{"type", "string"}, {"description", "bash command line(s)"}}},
             {"timeout",
              {{"type", "number"},
               {"description", "Seconds before the command is killed (default: the server's)"}}},
             {"workdir",
              {{"type", "string"},
               {"description", "Working directory; relative to /workspace (default /workspace)"}}},
             {"env",
              {{"type", "object"},
               {"additionalProperties", {{"type", "string"}}},
               {"description", "Extra environment variables"}}},
             {"stdin",
              {{"type", "string"}, {"description", "Text given to the command's stdin"}}}}},
           {"required", {"command"}},
           {"additionalProperties", false}},
      .output_schema = {{"type", "object"},
                        {"properties", command_output_properties()},
                        {"required", command_output_required()}},
      .handler = run,
  };
}

}  // namespace agentfense::cli::mcp
