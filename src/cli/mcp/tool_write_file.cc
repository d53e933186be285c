// write_file: create or replace a file through the sandbox (workspace_script.h), so it
// lands in the write layer for review and only where the policy allows writing.
#include "cli/mcp/base64.h"
#include "cli/mcp/message_limits.h"
#include "cli/mcp/sandbox_access.h"
#include "cli/mcp/workspace_script.h"
#include "common/text_safety.h"

namespace agentfense::cli::mcp {
namespace {

// $1 path, $2 "1" to create missing parent directories; the content on stdin.
constexpr const char* kScript = R"SH(p=$1
[ -d "$p" ] && exit 102
if [ -e "$p" ]; then [ -f "$p" ] || exit 105; fi
d=$(dirname -- "$p")
if [ "$2" = 1 ] && [ ! -d "$d" ]; then mkdir -p -- "$d" 2>/dev/null || exit 101; fi
[ -d "$d" ] || exit 100
{ exec 3>"$p"; } 2>/dev/null || exit 101
cat >&3 || exit 104
)SH";

json write_file(const json& args, ToolCall& call) {
  const WorkspacePath path = workspace_path(args, "path", false);
  std::string content = args.at("content").get<std::string>();
  if (args.value("encoding", "utf-8") == "base64") {
    auto bytes = base64_decode(content);
    if (!bytes) throw ToolFailure("content is not valid base64");
    content = std::move(*bytes);
  }
  if (content.size() > kMaxWriteFileBytes)
    throw ToolFailure(
        "content is " + std::to_string(content.size()) + " bytes; write_file takes at most " +
        std::to_string(kMaxWriteFileBytes >> 20) + " MiB (write a larger file with a command)");
  const std::size_t size = content.size();
  const runtime::ExecResult result =
      run_script(call, kScript, {path.inside, args.value("create_dirs", true) ? "1" : "0"},
                 std::move(content), 4096);
  if (result.exit_code != kScriptOk) fail_with_status(result, path, "writing");
  return {{"path", path_to_wire(path.api)}, {"bytes_written", size}};
}

}  // namespace

Tool write_file_tool() {
  return {
      .name = "write_file",
      .title = "Write a file in the sandbox",
      .description =
          "Creates or replaces a file under /workspace (paths relative to /workspace, or "
          "absolute under it), creating missing parent directories unless create_dirs is "
          "false. Only where the sandbox's policy allows writing (permission denied "
          "elsewhere); the write is kept in the sandbox's layer for review, like any "
          "command's. Give binary content base64-encoded with encoding \"base64\". At "
          "most 16 MiB.",
      .input_schema = {{"type", "object"},
                       {"properties",
                        {{"path", {{"type", "string"}}},
                         {"content", {{"type", "string"}}},
                         {"encoding", {{"type", "string"}, {"enum", {"utf-8", "base64"}}}},
                         {"create_dirs", {{"type", "boolean"}}}}},
                       {"required", {"path", "content"}},
                       {"additionalProperties", false}},
      .output_schema = {{"type", "object"},
                        {"properties",
                         {{"path", {{"type", "string"}}},
                          {"bytes_written", {{"type", "integer"}}}}},
                        {"required", {"path", "bytes_written"}}},
      .handler = write_file,
  };
}

}  // namespace agentfense::cli::mcp
