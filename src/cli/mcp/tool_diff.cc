// diff: the sandbox's changes as a unified diff (content only where it may read it).
#include "cli/mcp/review_schema.h"
#include "cli/mcp/sandbox_access.h"
#include "cli/mcp/tool_table.h"

namespace agentfense::cli::mcp {
namespace {

json diff(const json& args, ToolCall& call) {
  return {{"diff",
           call.sandbox.control({.op = layer::control::Op::kDiff, .paths = paths_argument(args)})
               .diff}};
}

}  // namespace

Tool diff_tool() {
  return {
      .name = "diff",
      .title = "Diff the sandbox's changes",
      .description =
          "Shows the sandbox's changes as a unified diff against the codebase (git-style "
          "headers; binary files are named, not shown).",
      .input_schema = paths_input_schema("are diffed"),
      .output_schema = {{"type", "object"},
                        {"properties", {{"diff", {{"type", "string"}}}}},
                        {"required", {"diff"}}},
      .handler = diff,
  };
}

}  // namespace agentfense::cli::mcp
