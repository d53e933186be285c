#include "cli/mcp/workspace_script.h"

#include "cli/mcp/sandbox_access.h"
#include "common/errors.h"
#include "common/text_safety.h"
#include "policy/policy.h"

namespace agentfense::cli::mcp {
namespace {

// File tools are quick; a stuck filesystem must not hold a call forever.
constexpr std::chrono::seconds kScriptTimeout{120};

}  // namespace

WorkspacePath workspace_path(const json& args, const char* key, bool allow_root) {
  std::string raw = args.value(key, std::string());
  if (raw.find('\0') != std::string::npos)
    throw ToolFailure(std::string(key) + " contains a NUL byte");
  if (raw == "/workspace" || raw.rfind("/workspace/", 0) == 0) raw.erase(0, 10);
  std::string normalized;
  try {
    normalized = policy::normalize_path(raw.empty() ? "/" : raw);
  } catch (const UserError& error) {
    throw ToolFailure("bad " + std::string(key) + " '" + raw + "': " + error.what());
  }
  if (normalized == "/" && !allow_root) throw ToolFailure(std::string(key) + " must name a file");
  return {normalized, normalized == "/" ? "/workspace" : "/workspace" + normalized};
}

std::int64_t count_of(const json& args, const char* name, std::int64_t fallback) {
  const auto it = args.find(name);
  if (it == args.end()) return fallback;
  if (!it->is_number_integer() || (it->is_number_unsigned() ? it->get<std::uint64_t>() > INT64_MAX
                                                            : it->get<std::int64_t>() < 0))
    throw ToolFailure(std::string(name) + " must be an integer from 0 to 2^63-1");
  return it->get<std::int64_t>();
}

runtime::ExecResult run_script(ToolCall& call, const char* script,
                               const std::vector<std::string>& args,
                               std::optional<std::string> stdin_data, std::size_t output_limit) {
  runtime::ExecSpec spec;
  spec.argv = {"bash", "-c", script, "bash"};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.stdin_data = std::move(stdin_data);
  spec.timeout = kScriptTimeout;
  spec.cancel_fd = call.cancel_fd;
  spec.output_limit = output_limit;
  runtime::ExecResult result = call.sandbox.exec_binary(std::move(spec));
  if (result.timed_out) throw ToolFailure("the file operation timed out");
  if (result.cancelled) throw ToolFailure("cancelled");
  return result;
}

void fail_with_status(const runtime::ExecResult& result, const WorkspacePath& path,
                      const char* verb) {
  const std::string name = quote_path(path.api);
  switch (result.exit_code) {
    case kScriptNotFound:
      throw ToolFailure("no such file or directory: " + name);
    case kScriptDenied:
      throw ToolFailure("permission denied: the sandbox's policy does not allow " +
                        std::string(verb) + " " + name);
    case kScriptIsDirectory:
      throw ToolFailure(name + " is a directory");
    case kScriptNotDirectory:
      throw ToolFailure(name + " is not a directory");
    case kScriptNotRegular:
      throw ToolFailure(name + " is not a regular file (a FIFO, socket or device)");
    default:
      throw ToolFailure(std::string(verb) + " " + name + " failed (status " +
                        std::to_string(result.exit_code) +
                        "): " + escape_text(result.stderr_data, {}));
  }
}

}  // namespace agentfense::cli::mcp
