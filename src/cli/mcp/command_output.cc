#include "cli/mcp/command_output.h"

#include <chrono>
#include <cstdio>

#include "cli/mcp/tool_table.h"

namespace agentfense::cli::mcp {

nlohmann::json command_output_properties() {
  return {
      {"stdout", {{"type", "string"}}},
      {"stderr", {{"type", "string"}}},
      {"exit_code",
       {{"type", "integer"},
        {"description", "The command's exit status; 128+N if killed by signal N"}}},
      {"truncated",
       {{"type", "boolean"}, {"description", "Output beyond the per-stream limit was dropped"}}},
      {"timed_out", {{"type", "boolean"}}},
      {"duration_ms", {{"type", "integer"}}},
      {"oom_killed",
       {{"type", "boolean"}, {"description", "The memory limit killed a process of the command"}}},
      {"pids_limit_reached",
       {{"type", "boolean"},
        {"description", "A fork failed because the sandbox's process limit was reached"}}},
  };
}

nlohmann::json command_output_required() {
  return {"stdout", "stderr", "exit_code", "truncated", "timed_out", "duration_ms"};
}

nlohmann::json command_output(const runtime::ExecResult& result, double timeout_seconds) {
  const nlohmann::json out = {
      {"stdout", result.stdout_data},
      {"stderr", result.stderr_data},
      {"exit_code", result.exit_code},
      {"truncated", result.stdout_truncated || result.stderr_truncated},
      {"timed_out", result.timed_out},
      {"duration_ms",
       std::chrono::duration_cast<std::chrono::milliseconds>(result.duration).count()},
      {"oom_killed", result.oom_killed},
      {"pids_limit_reached", result.pids_limit_reached},
  };
  if (result.cancelled) throw ToolFailure("the command was cancelled and killed", out);
  if (result.timed_out) {
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%g", timeout_seconds);
    throw ToolFailure(std::string("the command timed out after ") + seconds +
                          " s and was killed with every process it started",
                      out);
  }
  return out;
}

std::string OutputMeter::describe(const char* what) const {
  const double kilobytes = static_cast<double>(bytes_.load()) / 1000.0;
  char text[96];
  std::snprintf(text, sizeof text, "%s: %.1f kB of output so far", what, kilobytes);
  return text;
}

}  // namespace agentfense::cli::mcp
