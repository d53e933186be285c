#include "cli/mcp/remote_access.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <mutex>

#include "cli/mcp/base64.h"
#include "cli/mcp/tool_table.h"
#include "common/text_safety.h"

namespace agentfense::cli::mcp {
namespace {

using nlohmann::json;

// Control calls are quick; a commit of a large layer is the slowest.
constexpr std::chrono::minutes kControlTimeout{10};
// The server answers an exec at its timeout: this much later the connection is given up.
constexpr std::chrono::seconds kExecGrace{60};

std::string shell_quote(const std::string& word) {
  std::string out = "'";
  for (const char c : word) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

std::string duration_text(std::chrono::milliseconds timeout) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3fs", static_cast<double>(timeout.count()) / 1000.0);
  return text;
}

// A stream of the server's ExecResult: its exact bytes (base64 `stdoutBytes`) when the
// output was not UTF-8, else its text. The text of such output is only a rendering, cut
// short (unflagged) when the server's output budget was short: the exact bytes are what
// a local sandbox's tools get, shown the same way (json_rpc.h).
std::string stream_of(const json& body, const char* text_key, const char* bytes_key) {
  const std::string encoded = body.value(bytes_key, std::string());
  if (!encoded.empty())
    if (std::optional<std::string> bytes = base64_decode(encoded)) return std::move(*bytes);
  return body.value(text_key, std::string());
}

// The server's ExecResult (proto3 JSON: defaults omitted, duration "1.5s").
runtime::ExecResult exec_result(const json& body) {
  runtime::ExecResult result;
  result.stdout_data = stream_of(body, "stdout", "stdoutBytes");
  result.stderr_data = stream_of(body, "stderr", "stderrBytes");
  result.exit_code = body.value("exitCode", 0);
  result.stdout_truncated = body.value("stdoutTruncated", false);
  result.stderr_truncated = body.value("stderrTruncated", false);
  result.oom_killed = body.value("oomKilled", false);
  result.pids_limit_reached = body.value("pidsLimitReached", false);
  const std::string duration = body.value("duration", std::string("0s"));
  try {
    result.duration = std::chrono::nanoseconds(static_cast<long long>(std::stod(duration) * 1e9));
  } catch (const std::exception&) {
  }
  return result;
}

// An error the model should see, as a tool result.
[[noreturn]] void fail(const ServerError& error) {
  if (error.reason() == "SANDBOX_NOT_RUNNING" || error.reason() == "SANDBOX_NOT_FOUND")
    throw ToolFailure("the sandbox is not running on the server any more: " +
                      std::string(error.what()));
  if (error.http_status() == 403)
    throw ToolFailure("permission denied: " + std::string(error.what()));
  throw ToolFailure("the agentfense server refused the call (HTTP " +
                    std::to_string(error.http_status()) +
                    (error.reason().empty() ? "" : ", " + error.reason()) + "): " + error.what());
}

// One call whose server errors become tool results.
json tool_call(const ServerClient& client, const char* method, const std::string& path,
               const json& body) {
  try {
    return client.call(method, path, body, kControlTimeout);
  } catch (const ServerError& error) {
    fail(error);
  }
}

// The decoded stdout of a wrapped command (below): a cut-off tail (output cap, timeout)
// loses at most its last incomplete group.
void decode_stdout(runtime::ExecResult& result) {
  std::string& text = result.stdout_data;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  bool cut = false;
  if (text.size() % 4 != 0) {
    text.resize(text.size() - text.size() % 4);
    cut = true;
  }
  std::optional<std::string> bytes = base64_decode(text);
  if (!bytes) {
    // A cut inside the padding: drop the last group.
    text.resize(text.size() >= 4 ? text.size() - 4 : 0);
    bytes = base64_decode(text);
    cut = true;
  }
  text = bytes.value_or(std::string());
  if (cut) result.stdout_truncated = true;
}

class RemoteShell final : public ToolShell {
 public:
  RemoteShell(const ServerClient& client, const std::string& sandbox_path) : client_(client) {
    const json session = tool_call(client_, "POST", sandbox_path + "/sessions", json::object());
    path_ = "/v1/sessions/" + url_escape(session.value("id", std::string()));
  }
  ~RemoteShell() override { close(); }

  runtime::ExecResult exec(const std::string& command, std::chrono::milliseconds timeout,
                           const OutputCallback&, int cancel_fd) override {
    if (!alive_) throw UserError("session closed");
    runtime::ExecResult result;
    try {
      result = exec_result(client_.call("POST", path_ + "/exec",
                                        {{"command", command}, {"timeout", duration_text(timeout)}},
                                        timeout + kExecGrace, cancel_fd));
    } catch (const ServerCallCancelled&) {
      result.cancelled = true;
      result.exit_code = 137;
      return result;
    } catch (const ServerError& error) {
      if (error.reason() == "COMMAND_TIMEOUT" && error.body().contains("result")) {
        result = exec_result(error.body()["result"]);
        result.timed_out = true;
        return result;
      }
      if (error.reason() == "SESSION_CLOSED" || error.reason() == "SESSION_NOT_FOUND") {
        alive_ = false;
        throw ToolFailure("the shell ended; the next session_run starts a new one");
      }
      fail(error);
    }
    // `exit` ends the server's shell: the next call gets a new one (shell_pool.h).
    try {
      const json session = client_.call("GET", path_, nullptr, kControlTimeout);
      if (session.value("status", std::string()) == "SESSION_STATUS_CLOSED") alive_ = false;
    } catch (const ServerError&) {
      alive_ = false;
    }
    return result;
  }
  bool alive() const override { return alive_; }
  void close() override {
    if (closed_) return;
    closed_ = true;
    alive_ = false;
    try {
      client_.call("DELETE", path_, nullptr, std::chrono::seconds(30));
    } catch (const std::exception&) {
      // Already gone with its sandbox, or the server is unreachable: nothing to close.
    }
  }

 private:
  const ServerClient& client_;
  std::string path_;
  bool alive_ = true, closed_ = false;
};

}  // namespace

RemoteSandboxAccess::RemoteSandboxAccess(ServerClient client, std::string sandbox_id,
                                         ToolDefaults defaults)
    : SandboxAccess(std::move(defaults)),
      client_(std::move(client)),
      sandbox_id_(std::move(sandbox_id)) {
  if (sandbox_id_.empty()) throw UserError("--sandbox ID is required with --server");
  json sandbox;
  try {
    sandbox = client_.call("GET", sandbox_path(), nullptr, std::chrono::seconds(30));
  } catch (const ServerError& error) {
    if (error.http_status() == 401)
      throw UserError("the agentfense server at " + client_.url() +
                      " refused the API key (--api-key or $AGENTFENSE_API_KEY): " + error.what());
    if (error.reason() == "SANDBOX_NOT_FOUND" || error.http_status() == 404)
      throw UserError("no sandbox '" + sandbox_id_ + "' on the agentfense server at " +
                      client_.url() + " (or not one this API key may use): " + error.what());
    throw UserError("the agentfense server at " + client_.url() + " refused GetSandbox (HTTP " +
                    std::to_string(error.http_status()) + "): " + error.what());
  }
  const std::string status = sandbox.value("status", std::string());
  if (status != "SANDBOX_STATUS_RUNNING")
    throw UserError("sandbox '" + sandbox_id_ + "' is not running (status " +
                    (status.empty() ? "unknown" : status) +
                    "); start it first (StartSandbox, POST /v1/sandboxes/" + sandbox_id_ +
                    "/start)");
  std::vector<policy::Rule> rules;
  for (const json& rule : sandbox.value("permissions", json::array())) {
    const auto level = policy::parse_level(rule.value("permission", std::string("none")));
    // The server reads an unset pattern type as a glob.
    std::string type_name = rule.value("type", std::string("glob"));
    if (type_name == "PATTERN_TYPE_UNSPECIFIED") type_name = "glob";
    const auto type = policy::parse_pattern_type(type_name);
    if (!level || !type)
      throw UserError("sandbox '" + sandbox_id_ +
                      "' has a rule this CLI does not know: " + rule.dump());
    rules.push_back({.pattern = rule.value("pattern", std::string()),
                     .level = *level,
                     .priority = rule.value("priority", 0),
                     .type = *type});
  }
  policy_ = policy::Policy::compile(std::move(rules));
}

runtime::ExecResult RemoteSandboxAccess::exec(runtime::ExecSpec spec) {
  return call_exec(std::move(spec), false);
}

runtime::ExecResult RemoteSandboxAccess::exec_binary(runtime::ExecSpec spec) {
  return call_exec(std::move(spec), true);
}

runtime::ExecResult RemoteSandboxAccess::call_exec(runtime::ExecSpec spec, bool binary) {
  // The API's stdin and stdout are text (proto3 strings): binary bytes travel as base64,
  // encoded and decoded inside the sandbox. `run` gets the server's text as it is, so a
  // timed-out command keeps the output it printed.
  std::string argv;
  for (const std::string& word : spec.argv) argv += " " + shell_quote(word);
  const bool has_stdin = spec.stdin_data.has_value();
  std::string command = "exec" + argv;
  if (binary) {
    const std::string wrapper = has_stdin
                                    ? R"(base64 -d | "$@" | base64 -w0; exit "${PIPESTATUS[1]}")"
                                    : R"("$@" </dev/null | base64 -w0; exit "${PIPESTATUS[0]}")";
    command = "exec bash -c " + shell_quote(wrapper) + " agentfense-mcp" + argv;
  }
  json request = {{"command", command}, {"timeout", duration_text(spec.timeout)}};
  if (has_stdin) request["stdin"] = binary ? base64_encode(*spec.stdin_data) : *spec.stdin_data;
  if (!spec.env.empty()) request["env"] = spec.env;
  if (!spec.workdir.empty()) request["workdir"] = spec.workdir;
  const std::size_t limit = std::min(spec.output_limit, defaults().output_limit);
  std::shared_lock lock(activity());
  runtime::ExecResult result;
  try {
    result = exec_result(client_.call("POST", sandbox_path() + "/exec", request,
                                      spec.timeout + kExecGrace, spec.cancel_fd));
  } catch (const ServerCallCancelled&) {
    result.cancelled = true;
    result.exit_code = 137;
    return result;
  } catch (const ServerError& error) {
    if (error.reason() != "COMMAND_TIMEOUT" || !error.body().contains("result")) fail(error);
    result = exec_result(error.body()["result"]);
    result.timed_out = true;
    result.exit_code = 137;
  }
  if (binary) decode_stdout(result);
  for (auto [data, truncated] : {std::pair{&result.stdout_data, &result.stdout_truncated},
                                 std::pair{&result.stderr_data, &result.stderr_truncated}}) {
    if (data->size() > limit) {
      data->resize(limit);
      *truncated = true;
    }
  }
  return result;
}

std::unique_ptr<ToolShell> RemoteSandboxAccess::open_shell() {
  return std::make_unique<RemoteShell>(client_, sandbox_path());
}

namespace {

// An int64 count of the REST API's JSON (proto3 JSON writes int64 as a string); 0 when
// absent or not a count.
// The server takes a path that is not UTF-8 in its git-quoted wire form (proto3
// strings must be UTF-8), as its ListChanges gave it.
std::vector<std::string> wire_paths(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  for (const std::string& path : paths) out.push_back(path_to_wire(path));
  return out;
}

std::size_t count_in(const json& answer, const char* key) {
  const auto it = answer.find(key);
  if (it == answer.end()) return 0;
  if (it->is_number_unsigned()) return it->get<std::size_t>();
  if (!it->is_string()) return 0;
  try {
    return static_cast<std::size_t>(std::stoull(it->get<std::string>()));
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace

layer::control::Reply RemoteSandboxAccess::control(const layer::control::Request& request) {
  using layer::control::Op;
  layer::control::Reply reply;
  switch (request.op) {
    case Op::kChanges: {
      const json answer = tool_call(client_, "GET", sandbox_path() + "/changes", nullptr);
      for (const json& change : answer.value("changes", json::array())) {
        const std::string kind = change.value("kind", std::string());
        layer::Change out{.path = change.value("path", std::string()),
                          .kind = kind == "CHANGE_KIND_ADDED"     ? layer::ChangeKind::kAdded
                                  : kind == "CHANGE_KIND_DELETED" ? layer::ChangeKind::kDeleted
                                                                  : layer::ChangeKind::kModified,
                          .type = change.value("isDir", false)       ? 'd'
                                  : change.value("isSymlink", false) ? 'l'
                                                                     : 'f'};
        reply.changes.push_back(std::move(out));
      }
      reply.changes_omitted = count_in(answer, "omitted");
      return reply;
    }
    case Op::kDiff: {
      std::string query;
      for (const std::string& path : wire_paths(request.paths))
        query += (query.empty() ? "?paths=" : "&paths=") + url_escape(path);
      reply.diff = tool_call(client_, "GET", sandbox_path() + "/diff" + query, nullptr)
                       .value("diff", std::string());
      return reply;
    }
    case Op::kCommit: {
      const json answer = tool_call(client_, "POST", sandbox_path() + "/commit",
                                    {{"paths", wire_paths(request.paths)}});
      using Strings = std::vector<std::string>;
      using Map = std::map<std::string, std::string>;
      reply.commit.applied = answer.value("applied", Strings());
      reply.commit.denied = answer.value("denied", Strings());
      reply.commit.conflicts = answer.value("conflicts", Strings());
      reply.commit.reasons = answer.value("reasons", Map());
      reply.commit.notes = answer.value("notes", Map());
      reply.commit.applied_omitted = count_in(answer, "appliedOmitted");
      reply.commit.denied_omitted = count_in(answer, "deniedOmitted");
      reply.commit.conflicts_omitted = count_in(answer, "conflictsOmitted");
      return reply;
    }
    case Op::kDiscard:
      tool_call(client_, "POST", sandbox_path() + "/discard", json::object());
      return reply;
    default:
      throw ToolFailure("this request is not available over --server");
  }
}

bool RemoteSandboxAccess::review(ChangeMode mode) {
  using layer::control::Op;
  const layer::control::Reply listing = control({.op = Op::kChanges});
  const std::vector<layer::Change>& changes = listing.changes;
  const std::string where = "sandbox " + sandbox_id_ + " on " + client_.url();
  if (changes.empty()) {
    std::fprintf(stderr, "agentfense: no changes in %s\n", where.c_str());
    return true;
  }
  switch (mode) {
    case ChangeMode::kShow: {
      std::fprintf(stderr, "agentfense: %zu change(s) in %s (kept on the server for review):\n",
                   changes.size() + listing.changes_omitted, where.c_str());
      for (const layer::Change& change : changes)
        std::fprintf(stderr, "  %s %s\n", layer::control::kind_name(change.kind),
                     review_path(change.path).c_str());
      if (listing.changes_omitted > 0)
        std::fprintf(stderr, "  ... and %zu more not listed\n", listing.changes_omitted);
      const std::string diff = terminal_safe(control({.op = Op::kDiff}).diff);
      std::fputs(diff.c_str(), stderr);
      return true;
    }
    case ChangeMode::kApply: {
      const layer::CommitResult result = control({.op = Op::kCommit}).commit;
      for (const std::string& path : result.applied)
        std::fprintf(stderr, "agentfense: applied %s\n", review_path(path).c_str());
      if (result.applied_omitted > 0)
        std::fprintf(stderr, "agentfense: applied %zu more not listed\n", result.applied_omitted);
      for (const auto* list : {&result.denied, &result.conflicts}) {
        for (const std::string& path : *list) {
          const auto reason = result.reasons.find(path);
          std::fprintf(
              stderr, "agentfense: not applied %s: %s\n", review_path(path).c_str(),
              reason == result.reasons.end() ? "" : review_message(reason->second).c_str());
        }
      }
      if (result.denied_omitted + result.conflicts_omitted > 0)
        std::fprintf(stderr, "agentfense: %zu more not applied, not listed\n",
                     result.denied_omitted + result.conflicts_omitted);
      return result.denied.empty() && result.conflicts.empty();
    }
    case ChangeMode::kDiscard:
      control({.op = Op::kDiscard});
      std::fprintf(stderr, "agentfense: discarded %zu change(s) in %s\n",
                   changes.size() + listing.changes_omitted, where.c_str());
      return true;
  }
  return true;
}

}  // namespace agentfense::cli::mcp
