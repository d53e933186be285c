// discard (only with --allow-commit): drop every change the sandbox made.
#include <mutex>

#include "cli/mcp/review_schema.h"
#include "cli/mcp/sandbox_access.h"
#include "cli/mcp/tool_table.h"

namespace agentfense::cli::mcp {
namespace {

json discard(const json&, ToolCall& call) {
  std::unique_lock lock(call.sandbox.activity());
  using layer::control::Op;
  const layer::control::Reply listing = call.sandbox.control({.op = Op::kChanges});
  const std::size_t listed = listing.changes.size() + listing.changes_omitted;
  call.sandbox.control({.op = Op::kDiscard});
  return {{"discarded", listed}};
}

}  // namespace

Tool discard_tool() {
  return {
      .name = "discard",
      .title = "Discard the sandbox's changes",
      .description = "Drops every change the sandbox made; /workspace shows the codebase again.",
      .input_schema = no_input_schema(),
      .output_schema = {{"type", "object"},
                        {"properties",
                         {{"discarded",
                           {{"type", "integer"},
                            {"description", "How many changes were dropped"}}}}},
                        {"required", {"discarded"}}},
      .handler = discard,
  };
}

}  // namespace agentfense::cli::mcp
