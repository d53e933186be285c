// commit (only with --allow-commit): apply the sandbox's changes to the codebase, as
// `agentfense run --changes apply` does at its end: atomically per file, only where the
// policy allows writing, refusing conflicts with changes made to the codebase since.
#include <mutex>

#include "cli/mcp/progress.h"
#include "cli/mcp/review_schema.h"
#include "cli/mcp/sandbox_access.h"
#include "cli/mcp/tool_table.h"
#include "layer/changes_wire.h"

namespace agentfense::cli::mcp {
namespace {

json commit(const json& args, ToolCall& call) {
  const std::vector<std::string> paths = paths_argument(args);
  // No command runs while files move from the layer into the codebase.
  // The fs process applies the changes in one request: progress says how long it takes.
  const ProgressTicker ticker(call.progress, 0, [] { return std::string("committing"); });
  std::unique_lock lock(call.sandbox.activity());
  layer::CommitResult result =
      call.sandbox.control({.op = layer::control::Op::kCommit, .paths = paths}).commit;
  layer::to_wire(result);
  return {{"applied", result.applied},
          {"denied", result.denied},
          {"conflicts", result.conflicts},
          {"reasons", result.reasons},
          {"notes", result.notes},
          {"applied_omitted", result.applied_omitted},
          {"denied_omitted", result.denied_omitted},
          {"conflicts_omitted", result.conflicts_omitted}};
}

}  // namespace

Tool commit_tool() {
  const json reasons = {{"type", "object"}, {"additionalProperties", {{"type", "string"}}}};
  // Each list holds at most 4 MiB of paths; these count the rest (all applied the same).
  const json omitted = {{"type", "integer"},
                        {"description", "Paths of that list not shown (it holds 4 MiB of paths)"}};
  return {
      .name = "commit",
      .title = "Commit the sandbox's changes",
      .description =
          "Applies the sandbox's changes to the codebase on the host (all, or the given "
          "paths): atomically per file, only where the policy allows writing; a file also "
          "changed on the host since is a conflict and is not applied.",
      .input_schema = paths_input_schema("are committed"),
      .output_schema = {{"type", "object"},
                        {"properties",
                         {{"applied", string_list_schema()},
                          {"denied", string_list_schema()},
                          {"conflicts", string_list_schema()},
                          {"reasons", reasons},
                          {"notes", reasons},
                          {"applied_omitted", omitted},
                          {"denied_omitted", omitted},
                          {"conflicts_omitted", omitted}}},
                        {"required", {"applied", "denied", "conflicts", "reasons", "notes"}}},
      .handler = commit,
  };
}

}  // namespace agentfense::cli::mcp
