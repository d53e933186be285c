// list_files: a directory's entries as the sandbox sees them (workspace_script.h):
// hidden entries are absent because the sandbox's own `find` never meets them.
#include <algorithm>

#include "cli/mcp/sandbox_access.h"
#include "cli/mcp/workspace_script.h"
#include "common/text_safety.h"

namespace agentfense::cli::mcp {
namespace {

constexpr std::int64_t kDefaultMaxEntries = 1000;
constexpr std::int64_t kMostEntries = 20000;

// $1 directory, $2 max depth ("" = unlimited), $3 entries to print. One record per entry:
// "TYPE SIZE RELATIVE-PATH\0".
constexpr const char* kScript = R"SH(p=$1
[ -e "$p" ] || exit 100
[ -d "$p" ] || exit 103
[ -r "$p" ] && [ -x "$p" ] || exit 101
cd -- "$p" || exit 101
find . -mindepth 1 ${2:+-maxdepth "$2"} -printf '%y %s %P\0' 2>/dev/null | head -z -n "$3"
)SH";

const char* type_name(char type) {
  switch (type) {
    case 'f':
      return "file";
    case 'd':
      return "directory";
    case 'l':
      return "symlink";
    default:
      return "other";
  }
}

json list_files(const json& args, ToolCall& call) {
  const WorkspacePath dir = workspace_path(args, "path", true);
  const bool recursive = args.value("recursive", false);
  const std::int64_t max_entries =
      std::min(count_of(args, "max_entries", kDefaultMaxEntries), kMostEntries);
  const runtime::ExecResult result =
      run_script(call, kScript, {dir.inside, recursive ? "" : "1", std::to_string(max_entries + 1)},
                 std::nullopt, call.sandbox.defaults().output_limit * 4);
  if (result.exit_code != kScriptOk) fail_with_status(result, dir, "listing");

  struct Entry {
    std::string path;
    char type;
    long long size;
  };
  std::vector<Entry> entries;
  const std::string& out = result.stdout_data;
  for (std::size_t start = 0; start < out.size();) {
    std::size_t end = out.find('\0', start);
    if (end == std::string::npos) end = out.size();  // cut by the output limit
    const std::string record = out.substr(start, end - start);
    start = end + 1;
    const std::size_t space = record.find(' ', 2);
    if (record.size() < 4 || record[1] != ' ' || space == std::string::npos) continue;
    const std::string relative = record.substr(space + 1);
    entries.push_back({dir.api == "/" ? "/" + relative : dir.api + "/" + relative, record[0],
                       std::atoll(record.c_str() + 2)});
  }
  const bool truncated =
      static_cast<std::int64_t>(entries.size()) > max_entries || result.stdout_truncated;
  if (static_cast<std::int64_t>(entries.size()) > max_entries) entries.resize(max_entries);
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.path < b.path; });
  json list = json::array();
  for (const Entry& entry : entries) {
    const bool is_dir = entry.type == 'd';
    list.push_back({{"path", path_to_wire(entry.path)},
                    {"type", type_name(entry.type)},
                    {"size", is_dir ? 0 : entry.size},
                    {"level", std::string(policy::to_string(
                                  call.sandbox.policy().decide(entry.path, is_dir).level))}});
  }
  return {{"path", path_to_wire(dir.api)}, {"entries", list}, {"truncated", truncated}};
}

}  // namespace

Tool list_files_tool() {
  return {
      .name = "list_files",
      .title = "List files in the sandbox",
      .description =
          "Lists a directory under /workspace as the sandbox sees it (default: the "
          "workspace itself), recursively if asked. Hidden paths are absent. Each entry "
          "has its type, size and level: view (name only, content unreadable), read, or "
          "write (changes allowed).",
      .input_schema = {{"type", "object"},
                       {"properties",
                        {{"path", {{"type", "string"}, {"description", "Default: /workspace"}}},
                         {"recursive", {{"type", "boolean"}}},
                         {"max_entries",
                          {{"type", "integer"},
                           {"minimum", 1},
                           {"description", "At most this many entries (default 1000)"}}}}},
                       {"additionalProperties", false}},
      .output_schema =
          {{"type", "object"},
           {"properties",
            {{"path", {{"type", "string"}}},
             {"entries",
              {{"type", "array"},
               {"items",
                {{"type", "object"},
                 {"properties",
                  {{"path", {{"type", "string"}}},
                   {"type",
                    {{"type", "string"}, {"enum", {"file", "directory", "symlink", "other"}}}},
                   {"size", {{"type", "integer"}}},
                   {"level", {{"type", "string"}, {"enum", {"none", "view", "read", "write"}}}}}},
                 {"required", {"path", "type", "size", "level"}}}}}},
             {"truncated", {{"type", "boolean"}}}}},
           {"required", {"path", "entries", "truncated"}}},
      .handler = list_files,
  };
}

}  // namespace agentfense::cli::mcp
