// `agentfense mcp`: one sandbox over DIR served to an agent as MCP tools (cli/mcp/), over
// stdio or streamable HTTP on loopback. The sandbox is the one `run` builds
// (local_sandbox.h), kept mounted for the whole session; at the end its changes are
// shown, applied or discarded as `run --changes` does.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <optional>

#include "cli/commands.h"
#include "cli/local_sandbox.h"
#include "cli/mcp/http_transport.h"
#include "cli/mcp/local_access.h"
#include "cli/mcp/protocol.h"
#include "cli/mcp/remote_access.h"
#include "cli/mcp/stdio_transport.h"
#include "cli/mcp/stop_signals.h"
#include "cli/mcp/tool_table.h"
#include "cli/policy_options.h"
#include "cli/quota_options.h"
#include "cli/rootless.h"
#include "cli/run_boundary.h"
#include "cli/run_limits.h"
#include "cli/size_parse.h"
#include "cli/trail_location.h"
#include "common/errors.h"
#include "common/unique_fd.h"
#include "runtime/cgroup_delegation.h"

namespace agentfense::cli {
namespace {

constexpr const char* kVersion = "0.1.0";
constexpr double kDefaultCallTimeout = 300;
// An HTTP session unused this long ends (docs/agents.md): its client is most likely gone.
constexpr double kDefaultSessionIdle = 1800;

struct McpArgs {
  PolicyOptions policy;
  QuotaOptions quota;
  RunLimitFlags limits;
  std::string dir, audit, changes = "show", http, http_token_file;
  std::string audit_max_bytes = kDefaultAuditMaxBytes;
  RuntimeFlags runtime_flags;
  std::string server, api_key, ca_cert, sandbox;  // --server: attach to a server's sandbox
  double timeout_seconds = kDefaultCallTimeout;
  double max_timeout_seconds = kDefaultTimeoutSeconds;
  std::optional<double> idle_timeout_seconds;  // --http only
  bool network = false, allow_commit = false;
};

std::string instructions(bool allow_commit) {
  std::string text =
      "You work in a sandbox. The project is at /workspace (the working directory of "
      "every command). Some paths are hidden by policy and do not exist for you; some "
      "files can be listed but not read (permission denied); you can change files only "
      "where the policy allows writing. Use run for one-off commands, session_run to keep "
      "a shell's directory and variables between commands, read_file/write_file/list_files "
      "for files. Your changes are kept aside for review, not applied to the project: "
      "changes and diff show them.";
  if (allow_commit) text += " commit applies them to the project; discard drops them.";
  return text;
}

// stdout carries the MCP messages: anything else printing there (a library, a child
// that inherited it) would corrupt the stream. The channel moves to a private fd and
// fd 1 becomes a copy of stderr.
UniqueFd take_stdout() {
  UniqueFd channel(static_cast<int>(check_syscall(::fcntl(1, F_DUPFD_CLOEXEC, 3), "dup stdout")));
  check_syscall(::dup2(2, 1), "dup2 stderr to stdout");
  return channel;
}

// Serves the tools until the client goes away, then returns.
void serve(mcp::SandboxAccess& access, const std::optional<mcp::HttpAddress>& http,
           const mcp::HttpToken* token, const McpArgs& args, const UniqueFd& channel,
           const mcp::StopSignals& signals) {
  const bool allow_commit = args.allow_commit;
  const mcp::ToolTable tools(allow_commit);
  const mcp::ServerIdentity identity{kVersion, instructions(allow_commit)};
  if (http) {
    const auto idle =
        std::chrono::duration<double>(args.idle_timeout_seconds.value_or(kDefaultSessionIdle));
    mcp::serve_http(
        *http, *token, [&] { return std::make_unique<mcp::McpSession>(tools, access, identity); },
        signals, std::chrono::duration_cast<std::chrono::milliseconds>(idle));
  } else {
    mcp::McpSession session(tools, access, identity);
    mcp::serve_stdio(session, STDIN_FILENO, channel.get(), signals);
  }
}

// `--server URL --sandbox ID`: the tools act on a sandbox a running server holds; its
// rules, limits and network setting are the server's.
int run_remote(const McpArgs& args, const std::optional<mcp::HttpAddress>& http,
               const mcp::HttpToken* token, ChangeMode change_mode) {
  if (!args.dir.empty())
    throw UserError("DIR is not taken with --server: the sandbox's codebase is the server's");
  const PolicyOptions& policy = args.policy;
  if (!policy.preset.empty() || !policy.policy_file.empty() || !policy.rules.empty() ||
      !args.audit.empty() || args.audit_max_bytes != kDefaultAuditMaxBytes || args.network ||
      args.limits.memory || args.limits.pids || args.quota.disk != QuotaOptions().disk ||
      args.quota.inodes != QuotaOptions().inodes)
    throw UserError(
        "--server: the sandbox's rules, limits, audit trail and network are the server's "
        "(set them when creating the sandbox); drop the policy, limit, --audit and --network "
        "flags");
  const mcp::ToolDefaults defaults{.timeout_seconds = args.timeout_seconds,
                                   .max_timeout_seconds = args.max_timeout_seconds,
                                   .allow_commit = args.allow_commit};
  mcp::RemoteSandboxAccess access(
      ServerClient(
          {.url = args.server, .api_key = api_key_from(args.api_key), .ca_cert = args.ca_cert}),
      args.sandbox, defaults);
  const mcp::StopSignals signals;  // before any thread starts
  UniqueFd channel;
  if (!http) channel = take_stdout();
  serve(access, http, token, args, channel, signals);
  return access.review(change_mode) ? 0 : 1;
}

void check_http_flags(const McpArgs& args) {
  if (!args.http_token_file.empty() && args.http.empty())
    throw UserError("--http-token-file goes with --http (stdio needs no token)");
  if (!args.idle_timeout_seconds) return;
  if (args.http.empty())
    throw UserError("--idle-timeout goes with --http (a stdio session ends with its client)");
  // Up to a year: longer would overflow the clock arithmetic, and means "never" anyway.
  const double seconds = *args.idle_timeout_seconds;
  if (!(seconds >= 1 && seconds <= 365.0 * 24 * 3600))
    throw UserError("--idle-timeout must be from 1 to 31536000 seconds");
}

int run_mcp(const McpArgs& args) {
  if (args.server.empty() &&
      (!args.api_key.empty() || !args.sandbox.empty() || !args.ca_cert.empty()))
    throw UserError("--api-key, --sandbox and --ca-cert go with --server URL");
  if (args.dir.empty() && args.server.empty()) throw UserError("DIR (or --server) is required");
  const ChangeMode change_mode = parse_change_mode(args.changes);
  if (!(args.timeout_seconds > 0) || !(args.max_timeout_seconds > 0))
    throw UserError("--timeout and --max-timeout must be positive");
  if (args.timeout_seconds > args.max_timeout_seconds)
    throw UserError("--timeout must not exceed --max-timeout");
  // Refuses infinity and what overflows the clock (--timeout is at most this).
  (void)timeout_from_seconds(args.max_timeout_seconds, "--max-timeout");
  check_http_flags(args);
  std::optional<mcp::HttpAddress> http;
  if (!args.http.empty()) http = mcp::parse_http_address(args.http);
  // Before anything is set up: a token file that exists already is refused with nothing
  // left behind; the file goes again at exit.
  std::optional<mcp::HttpToken> token;
  if (http) token.emplace(args.http_token_file);
  const mcp::HttpToken* http_token = token ? &*token : nullptr;
  if (!args.server.empty()) return run_remote(args, http, http_token, change_mode);
  args.runtime_flags.check();
  check_rootless_mount();
  check_rootless_network(args.network);
  LocalSandboxSpec spec =
      local_sandbox_spec(args.policy, args.quota, args.dir, args.audit, args.audit_max_bytes);
  spec.control_socket = true;
  mcp::ToolDefaults defaults{.timeout_seconds = args.timeout_seconds,
                             .max_timeout_seconds = args.max_timeout_seconds,
                             .limits = run_limits(args.limits, runtime::cgroup_limits_available()),
                             .network = args.network,
                             .allow_commit = args.allow_commit};

  const mcp::StopSignals signals;  // before any thread starts
  UniqueFd channel;
  if (!http) channel = take_stdout();
  LocalSandbox sandbox(spec);
  {
    // The container (--runtime docker) goes before the mount it binds stops.
    runtime::ExecSpec ids;
    sandbox.prepare(ids);
    ids.limits = defaults.limits;
    mcp::LocalSandboxAccess access(
        sandbox, make_local_boundary(args.runtime_flags, ids, sandbox.mountpoint(), args.network),
        defaults);
    serve(access, http, http_token, args, channel, signals);
  }  // every call has ended, every shell is closed, the boundary is gone
  return sandbox.finish(change_mode) ? 0 : 1;
}

}  // namespace

Command add_mcp_command(CLI::App& app) {
  auto args = std::make_shared<McpArgs>();
  CLI::App* cmd = app.add_subcommand(
      "mcp", "Serve a sandbox over DIR to an agent as MCP tools (stdio, or HTTP with --http)");
  cmd->footer(
      "Tools: run, session_run, read_file, write_file, list_files, changes, diff (and commit,\n"
      "discard with --allow-commit). Every tool goes through the sandbox's /workspace: hidden\n"
      "paths do not exist, view-level files cannot be read. MCP client configuration:\n"
      "  {\"mcpServers\": {\"sandbox\": {\"command\": \"agentfense\",\n"
      "                                \"args\": [\"mcp\", \"--preset\", \"agent-safe\", "
      "\"/path/to/repo\"]}}}\n"
      "On exit (stdin closed, SIGTERM or Ctrl-C) the changes are shown on stderr (default),\n"
      "applied or discarded (--changes); calls still running when stdin closes get 5 s to\n"
      "answer, then their commands are killed. With --server URL --sandbox ID the tools act on a\n"
      "running sandbox of an agentfense server (API key from --api-key or\n"
      "$AGENTFENSE_API_KEY), and --changes acts on its changes. See docs/agents.md.");
  args->policy.add_to(*cmd);
  args->quota.add_to(*cmd);
  cmd->add_option("--changes", args->changes,
                  "At exit, what to do with the sandbox's writes: show (default), apply, discard");
  cmd->add_flag("--allow-commit", args->allow_commit,
                "Offer the commit and discard tools (the agent may apply its own changes)");
  cmd->add_option("--http", args->http,
                  "Serve streamable HTTP at http://ADDR/mcp instead of stdio; ADDR is PORT or "
                  "HOST:PORT on loopback (port 0 = any, printed on stderr). Every request must "
                  "send 'Authorization: Bearer TOKEN': TOKEN is $AGENTFENSE_MCP_TOKEN if set, "
                  "else generated and printed on stderr");
  cmd->add_option("--http-token-file", args->http_token_file,
                  "With --http: write the token to this new file (created 0600, refused if it "
                  "exists, removed at exit) instead of printing it");
  cmd->add_option("--idle-timeout", args->idle_timeout_seconds,
                  "With --http: end a session that sent nothing and ran nothing for this many "
                  "seconds, closing its shells (default 1800)");
  cmd->add_option("--timeout", args->timeout_seconds,
                  "Seconds a command may run when the call names no timeout (default 300)");
  cmd->add_option("--max-timeout", args->max_timeout_seconds,
                  "The longest timeout a call may ask for, in seconds (default 1800)");
  cmd->add_option("--memory", args->limits.memory,
                  "Memory limit per command and per shell session (default 4G, or half the "
                  "RAM if less; 0 = unlimited)");
  cmd->add_option("--pids", args->limits.pids,
                  "Maximum processes and threads per command and per shell (default 1024; 0 = "
                  "unlimited)");
  cmd->add_flag("--network", args->network,
                "Allow outbound network access from the sandbox (off by default)");
  cmd->add_option("--audit", args->audit, "Append JSON-lines audit events to this file");
  add_audit_max_bytes_option(*cmd, args->audit_max_bytes);
  args->runtime_flags.add_to(*cmd);
  cmd->add_option("--server", args->server,
                  "Attach to a running agentfense server instead of DIR: its REST address "
                  "(http://HOST:PORT, or https:// for TLS); with --sandbox");
  cmd->add_option("--sandbox", args->sandbox,
                  "With --server: the id of a running sandbox on that server (its rules, "
                  "limits and changes are the server's)");
  cmd->add_option("--api-key", args->api_key,
                  "With --server: the API key, sent as a Bearer token (default "
                  "$AGENTFENSE_API_KEY)");
  cmd->add_option("--ca-cert", args->ca_cert,
                  "With an https:// --server: a PEM file of the CA to trust");
  cmd->add_option("DIR", args->dir, "Codebase directory (not with --server)");
  return [args] { return run_mcp(*args); };
}

}  // namespace agentfense::cli
