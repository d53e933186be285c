// How read_file, write_file and list_files reach files: a fixed bash script run inside the
// sandbox, exactly like an agent's own command, so every answer comes through the
// sandbox's /workspace view (the permission filesystem and the sandbox's uid): a hidden
// path does not exist, a view-level file cannot be opened, and the host directory is
// never read directly. The scripts report the outcome in their exit status; the
// messages built from it depend only on the status, so a hidden file and an absent one
// answer identically.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cli/mcp/tool_table.h"
#include "runtime/exec.h"

namespace agentfense::cli::mcp {

enum ScriptStatus : int {
  kScriptOk = 0,
  kScriptNotFound = 100,
  kScriptDenied = 101,
  kScriptIsDirectory = 102,
  kScriptNotDirectory = 103,
  // 104: write_file's own (the write failed)
  kScriptNotRegular = 105,  // a FIFO, socket or device: opening one could wait forever
};

struct WorkspacePath {
  std::string api;     // as results name it: "/src/a.py" ("/" for the workspace)
  std::string inside;  // inside the sandbox: "/workspace/src/a.py"
};

// The `key` argument: relative to /workspace, or absolute under /workspace ("/src/a.py"
// and "/workspace/src/a.py" are the same file). Throws ToolFailure for "..", NUL or, when
// !allow_root, the workspace itself.
WorkspacePath workspace_path(const json& args, const char* key, bool allow_root);

// The integer argument `name` (`fallback` when absent), 0..2^63-1. Read as int64_t, a
// value of 2^63 or more (which a schema's minimum lets through as unsigned) wrapped
// negative: read_file read from the file's start, list_files threw length_error.
// Throws ToolFailure naming the argument.
std::int64_t count_of(const json& args, const char* name, std::int64_t fallback);

// Runs `script` as `bash -c script bash ARGS...` inside the sandbox.
runtime::ExecResult run_script(ToolCall& call, const char* script,
                               const std::vector<std::string>& args,
                               std::optional<std::string> stdin_data, std::size_t output_limit);

// The ToolFailure for a non-zero status (`verb` as in "reading"), naming only the path
// the caller gave. stderr is included only for unexpected statuses.
[[noreturn]] void fail_with_status(const runtime::ExecResult& result, const WorkspacePath& path,
                                   const char* verb);

}  // namespace agentfense::cli::mcp
