// read_file: a file's content as the sandbox sees it (workspace_script.h).
#include <algorithm>
#include <cstdint>

#include "cli/mcp/base64.h"
#include "cli/mcp/sandbox_access.h"
#include "cli/mcp/workspace_script.h"
#include "common/text_safety.h"

namespace agentfense::cli::mcp {
namespace {

constexpr std::int64_t kDefaultMaxBytes = 256 * 1024;

// $1 path, $2 offset, $3 bytes to read. The size goes to stderr, the content to stdout.
constexpr const char* kScript = R"SH(p=$1
[ -e "$p" ] || exit 100
[ -d "$p" ] && exit 102
[ -f "$p" ] || exit 105
{ exec 3<"$p"; } 2>/dev/null || exit 101
stat -L -c %s -- "$p" >&2
if [ "$2" -gt 0 ]; then tail -c +"$(($2 + 1))" <&3 | head -c "$3"; else head -c "$3" <&3; fi
)SH";

json read_file(const json& args, ToolCall& call) {
  const WorkspacePath path = workspace_path(args, "path", false);
  const std::int64_t offset = count_of(args, "offset", 0);
  const std::int64_t limit = static_cast<std::int64_t>(call.sandbox.defaults().output_limit) - 1;
  const std::int64_t max_bytes = std::min(count_of(args, "max_bytes", kDefaultMaxBytes), limit);
  // One byte more than asked: its presence says the content was cut.
  const runtime::ExecResult result = run_script(
      call, kScript, {path.inside, std::to_string(offset), std::to_string(max_bytes + 1)},
      std::nullopt, static_cast<std::size_t>(max_bytes + 1));
  if (result.exit_code != kScriptOk) fail_with_status(result, path, "reading");
  std::string content = result.stdout_data;
  const bool truncated = static_cast<std::int64_t>(content.size()) > max_bytes;
  if (truncated) content.resize(static_cast<std::size_t>(max_bytes));
  const bool text = is_valid_utf8(content);
  return {{"path", path_to_wire(path.api)},
          {"content", text ? content : base64_encode(content)},
          {"encoding", text ? "utf-8" : "base64"},
          {"size", std::atoll(result.stderr_data.c_str())},
          {"offset", offset},
          {"bytes", content.size()},
          {"truncated", truncated}};
}

}  // namespace

Tool read_file_tool() {
  return {
      .name = "read_file",
      .title = "Read a file in the sandbox",
      .description =
          "Reads a file under /workspace as the sandbox sees it (paths relative to "
          "/workspace, or absolute under it). Hidden files do not exist; files the policy "
          "lets the sandbox list but not read answer permission denied. Text comes back as "
          "is; other content base64-encoded (encoding says which). Long files are cut at "
          "max_bytes (truncated true): read on with offset.",
      .input_schema = {{"type", "object"},
                       {"properties",
                        {{"path", {{"type", "string"}}},
                         {"offset",
                          {{"type", "integer"},
                           {"minimum", 0},
                           {"description", "Byte offset to start at (default 0)"}}},
                         {"max_bytes",
                          {{"type", "integer"},
                           {"minimum", 1},
                           {"description", "At most this many bytes (default 262144)"}}}}},
                       {"required", {"path"}},
                       {"additionalProperties", false}},
      .output_schema = {{"type", "object"},
                        {"properties",
                         {{"path", {{"type", "string"}}},
                          {"content", {{"type", "string"}}},
                          {"encoding", {{"type", "string"}, {"enum", {"utf-8", "base64"}}}},
                          {"size", {{"type", "integer"}, {"description", "The file's size"}}},
                          {"offset", {{"type", "integer"}}},
                          {"bytes", {{"type", "integer"}, {"description", "Bytes returned"}}},
                          {"truncated", {{"type", "boolean"}}}}},
                        {"required",
                         {"path", "content", "encoding", "size", "offset", "bytes", "truncated"}}},
      .handler = read_file,
  };
}

}  // namespace agentfense::cli::mcp
