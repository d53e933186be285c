// The tools `agentfense mcp` offers: each with a JSON Schema for its input and its output
// (MCP tools/list), and a handler that turns validated arguments into a result. Errors
// the model should see and can act on (a timeout, a hidden or unreadable file, a bad
// argument) are ToolFailure: the client gets a result with isError true, never a
// protocol error.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace agentfense::cli::mcp {

using nlohmann::json;

class SandboxAccess;
class ShellPool;
class ProgressReporter;

class ToolFailure : public std::runtime_error {
 public:
  explicit ToolFailure(const std::string& message, json structured = nullptr)
      : std::runtime_error(message), structured_(std::move(structured)) {}
  const json& structured() const { return structured_; }

 private:
  json structured_;  // partial output (a timed-out command's), or null
};

// What a handler works with: the sandbox, the calling MCP session's shells, where to
// report progress and the fd that signals cancellation (-1: none).
struct ToolCall {
  SandboxAccess& sandbox;
  ShellPool& shells;
  const ProgressReporter& progress;
  int cancel_fd = -1;
};

struct Tool {
  std::string name, title, description;
  json input_schema, output_schema;
  std::function<json(const json& args, ToolCall& call)> handler;  // -> structuredContent
};

class ToolTable {
 public:
  // commit and discard only with `allow_commit` (agentfense mcp --allow-commit).
  explicit ToolTable(bool allow_commit);

  const Tool* find(const std::string& name) const;
  json list() const;  // the tools/list result
  // The tools/call result: validates `args` against the tool's input schema, runs it
  // and wraps its output (or its failure) as MCP content.
  json call(const Tool& tool, const json& args, ToolCall& call) const;
  // A tools/call result with isError true: for a call refused before it ran.
  static json refusal(const std::string& message);

 private:
  std::vector<Tool> tools_;
};

// Checks `args` against the subset of JSON Schema the tools use (object with typed
// properties, required, additionalProperties false, string maps, string arrays, enums,
// minimum). Throws ToolFailure naming the argument.
void validate_arguments(const json& schema, const json& args);

// The tools, one file each.
Tool run_tool();
Tool session_run_tool();
Tool read_file_tool();
Tool write_file_tool();
Tool list_files_tool();
Tool changes_tool();
Tool diff_tool();
Tool commit_tool();
Tool discard_tool();

}  // namespace agentfense::cli::mcp
