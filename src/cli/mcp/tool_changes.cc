// changes: what the sandbox changed so far, relative to the codebase (the fs process's
// live view of its write layer, filtered by the policy: hidden paths never appear).
#include "cli/mcp/review_schema.h"
#include "cli/mcp/sandbox_access.h"
#include "cli/mcp/tool_table.h"
#include "layer/changes_wire.h"

namespace agentfense::cli::mcp {
namespace {

const char* type_name(char type) {
  if (type == 'f') return "file";
  if (type == 'd') return "directory";
  if (type == 'l') return "symlink";
  return "other";
}

json changes(const json&, ToolCall& call) {
  layer::control::Reply reply = call.sandbox.control({.op = layer::control::Op::kChanges});
  std::vector<layer::Change>& listed = reply.changes;
  layer::to_wire(listed);
  json list = json::array();
  for (const layer::Change& change : listed) {
    list.push_back({{"path", change.path},
                    {"kind", layer::control::kind_name(change.kind)},
                    {"type", type_name(change.type)}});
  }
  return {{"changes", list},
          {"count", list.size() + reply.changes_omitted},
          {"omitted", reply.changes_omitted}};
}

}  // namespace

Tool changes_tool() {
  return {
      .name = "changes",
      .title = "List the sandbox's changes",
      .description =
          "Lists what commands and write_file changed under /workspace so far, relative to "
          "the codebase: added, modified or deleted paths. Nothing reaches the codebase until "
          "it is committed (by the person running the server, or the commit tool when "
          "offered).",
      .input_schema = no_input_schema(),
      .output_schema =
          {{"type", "object"},
           {"properties",
            {{"changes",
              {{"type", "array"},
               {"items",
                {{"type", "object"},
                 {"properties",
                  {{"path", {{"type", "string"}}},
                   {"kind", {{"type", "string"}, {"enum", {"added", "modified", "deleted"}}}},
                   {"type",
                    {{"type", "string"}, {"enum", {"file", "directory", "symlink", "other"}}}}}},
                 {"required", {"path", "kind", "type"}}}}}},
             {"count", {{"type", "integer"}, {"description", "How many changes there are"}}},
             {"omitted",
              {{"type", "integer"},
               {"description",
                "How many are not listed: a listing holds at most 4 MiB of paths"}}}}},
           {"required", {"changes", "count", "omitted"}}},
      .handler = changes,
  };
}

}  // namespace agentfense::cli::mcp
