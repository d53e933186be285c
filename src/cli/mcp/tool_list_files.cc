// list_files: a directory's entries as the sandbox sees them (workspace_script.h):
// hidden entries are absent because the sandbox's own `find` never meets them. Each
// entry's level is the policy's for the path the filesystem enforces: through a symlinked
// directory that is the link's target, not the path as listed (listing `alias -> docs`
// said read for a file of docs/ at view, which read_file then refused: attack sweep M4).
#include <algorithm>
#include <optional>

#include "cli/mcp/sandbox_access.h"
#include "cli/mcp/workspace_script.h"
#include "common/text_safety.h"

namespace agentfense::cli::mcp {
namespace {

constexpr std::int64_t kDefaultMaxEntries = 1000;
constexpr std::int64_t kMostEntries = 20000;

// $1 directory, $2 max depth ("" = unlimited), $3 entries to print. First the
// directory's physical path (symlinks resolved), then one record per entry:
// "TYPE SIZE RELATIVE-PATH\0". find does not follow the links below it.
constexpr const char* kScript = R"SH(p=$1
[ -e "$p" ] || exit 100
[ -d "$p" ] || exit 103
[ -r "$p" ] && [ -x "$p" ] || exit 101
cd -P -- "$p" || exit 101
printf '%s\0' "$PWD"
find . -mindepth 1 ${2:+-maxdepth "$2"} -printf '%y %s %P\0' 2>/dev/null | head -z -n "$3"
)SH";

// "/workspace/docs" -> "/docs", "/workspace" -> "/"; nullopt for a directory outside the
// workspace (a link to /tmp), where no policy path decides a level.
std::optional<std::string> workspace_relative(const std::string& physical) {
  if (physical == "/workspace") return "/";
  if (physical.rfind("/workspace/", 0) == 0) return physical.substr(10);
  return std::nullopt;
}

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
    std::string relative;  // to the listed directory
    char type;
    long long size;
  };
  std::vector<Entry> entries;
  const std::string& out = result.stdout_data;
  const std::size_t first = out.find('\0');
  const std::optional<std::string> physical =
      first == std::string::npos ? std::nullopt : workspace_relative(out.substr(0, first));
  for (std::size_t start = first == std::string::npos ? out.size() : first + 1;
       start < out.size();) {
    std::size_t end = out.find('\0', start);
    if (end == std::string::npos) end = out.size();  // cut by the output limit
    const std::string record = out.substr(start, end - start);
    start = end + 1;
    const std::size_t space = record.find(' ', 2);
    if (record.size() < 4 || record[1] != ' ' || space == std::string::npos) continue;
    const std::string relative = record.substr(space + 1);
    entries.push_back({relative, record[0], std::atoll(record.c_str() + 2)});
  }
  const bool truncated =
      static_cast<std::int64_t>(entries.size()) > max_entries || result.stdout_truncated;
  if (static_cast<std::int64_t>(entries.size()) > max_entries) entries.resize(max_entries);
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.relative < b.relative; });
  const auto under = [](const std::string& parent, const std::string& relative) {
    return parent == "/" ? "/" + relative : parent + "/" + relative;
  };
  json list = json::array();
  for (const Entry& entry : entries) {
    const bool is_dir = entry.type == 'd';
    json item = {{"path", path_to_wire(under(dir.api, entry.relative))},
                 {"type", type_name(entry.type)},
                 {"size", is_dir ? 0 : entry.size}};
    if (physical) {
      const policy::Decision decision =
          call.sandbox.policy().decide(under(*physical, entry.relative), is_dir);
      item["level"] = std::string(policy::to_string(decision.level));
    }
    list.push_back(std::move(item));
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
          "write (changes allowed); no level when the directory is a link leading out of "
          "/workspace.",
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
                 {"required", {"path", "type", "size"}}}}}},
             {"truncated", {{"type", "boolean"}}}}},
           {"required", {"path", "entries", "truncated"}}},
      .handler = list_files,
  };
}

}  // namespace agentfense::cli::mcp
