// `agentfense run`: one command in a fresh sandbox, then review its changes.
// A linear chain: compile policy -> sandbox (open DIR, run dir, mount process) -> bwrap ->
// stop mount -> show/apply/discard -> remove run dir. Every step's resource is RAII
// (local_sandbox.h), so an error anywhere leaves no mount, process or directory behind.
// The stop signals (Ctrl-C, SIGTERM, SIGHUP) are read, not handled, for the same reason:
// a run they interrupt stops its command and still reaches the end of that chain.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <optional>

#include "cli/change_review.h"
#include "cli/commands.h"
#include "cli/local_sandbox.h"
#include "cli/mcp/stop_signals.h"
#include "cli/policy_options.h"
#include "cli/quota_options.h"
#include "cli/rootless.h"
#include "cli/run_audit.h"
#include "cli/run_boundary.h"
#include "cli/run_limits.h"
#include "cli/size_parse.h"
#include "cli/terminal_modes.h"
#include "cli/trail_location.h"
#include "common/errors.h"
#include "runtime/boundary.h"
#include "runtime/cgroup_delegation.h"
#include "runtime/exec.h"

namespace agentfense::cli {
namespace {

constexpr int kTimeoutExitCode = 124;  // what timeout(1) uses; scripts already expect it

struct RunArgs {
  PolicyOptions policy;
  QuotaOptions quota;
  std::string dir, audit, changes = "show", workdir = "/workspace";
  std::string audit_max_bytes = kDefaultAuditMaxBytes;
  double timeout_seconds = kDefaultTimeoutSeconds;
  RunLimitFlags limits;
  bool network = false;
  bool prewarm = false;
  RuntimeFlags runtime_flags;
  std::vector<std::string> env;
  std::vector<std::string> command;
};

std::map<std::string, std::string> parse_env(const std::vector<std::string>& pairs) {
  std::map<std::string, std::string> env;
  for (const auto& pair : pairs) {
    const auto eq = pair.find('=');
    if (eq == std::string::npos || eq == 0)
      throw UserError("--env expects KEY=VALUE, got '" + pair + "'");
    env[pair.substr(0, eq)] = pair.substr(eq + 1);
  }
  return env;
}

const char* signal_name(int sig) {
  switch (sig) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    case SIGHUP:
      return "SIGHUP";
  }
  return "a signal";
}

// What an interrupted run does with its changes: the person stopped the command before
// it finished, so its partial work never lands on its own. `apply` lists the changes as
// `show` does instead; `show` and `discard` stay as asked. The layer goes with the run
// directory either way.
ChangeMode interrupted_mode(ChangeMode asked) {
  return asked == ChangeMode::kApply ? ChangeMode::kShow : asked;
}

const char* change_mode_name(ChangeMode mode) {
  switch (mode) {
    case ChangeMode::kShow:
      return "show";
    case ChangeMode::kApply:
      return "apply";
    case ChangeMode::kDiscard:
      return "discard";
  }
  return "show";
}

int run_command(const RunArgs& args) {
  // Before any thread or child starts: every thread inherits the blocked mask (children
  // reset it before exec). A signal that arrives during set-up stays pending and stops
  // the command as soon as it starts. One inherited as ignored stays so (`nohup
  // agentfense run ...` outlives its terminal).
  const mcp::StopSignals signals(/*keep_ignored=*/true);
  LocalSandboxSpec local =
      local_sandbox_spec(args.policy, args.quota, args.dir, args.audit, args.audit_max_bytes);
  local.prewarm = args.prewarm;
  const ChangeMode change_mode = parse_change_mode(args.changes);
  if (args.command.empty()) throw UserError("no command given (usage: run DIR -- CMD...)");
  runtime::ExecSpec spec;
  spec.argv = args.command;
  spec.env = parse_env(args.env);
  spec.workdir = args.workdir;
  spec.inherit_stdio = true;
  spec.network = args.network;
  spec.cancel_fd = signals.fd();  // readable once a stop signal is pending: kill the tree
  args.runtime_flags.check();
  check_rootless_mount();
  check_rootless_network(args.network);
  spec.timeout = timeout_from_seconds(args.timeout_seconds, "--timeout");
  spec.limits = run_limits(args.limits, runtime::cgroup_limits_available());

  std::optional<RunAudit> audit;
  local.before_mount = [&](const std::string& sandbox_id) {
    // The sandbox's rules and limits open the trail, before the fs process writes its
    // first event.
    if (args.audit.empty()) return;
    audit.emplace(args.audit, sandbox_id);
    audit->created(local.rules, spec);
  };
  LocalSandbox sandbox(local);
  sandbox.prepare(spec);
  runtime::ExecResult result;
  {
    // Gone (its container removed) before the mount it binds stops.
    const std::unique_ptr<runtime::Boundary> boundary =
        make_local_boundary(args.runtime_flags, spec, sandbox.mountpoint(), args.network);
    const TerminalModes terminal;  // put back before the review, whatever the command did
    result = boundary->run(spec);
  }
  const int interrupted = signals.take();
  ChangeMode mode = change_mode;
  if (interrupted != 0) {
    mode = interrupted_mode(change_mode);
    std::fprintf(stderr, "agentfense: interrupted by %s: the command was stopped%s\n",
                 signal_name(interrupted),
                 change_mode == ChangeMode::kApply ? "; its changes are not applied" : "");
  }
  const bool changes_ok = sandbox.finish(mode);
  if (audit) audit->finished(spec, result, change_mode_name(mode), changes_ok);
  // A signal during the review let it end (a half-applied change set helps nobody): the
  // run still ends as interrupted.
  const int stopped_by = interrupted != 0 ? interrupted : signals.take();
  if (stopped_by != 0) return 128 + stopped_by;
  // A bare 137 or "fork: Resource temporarily unavailable" does not say a limit did it.
  if (result.oom_killed)
    std::fprintf(stderr,
                 "agentfense: the memory limit (%lld bytes) killed a process of the command; "
                 "--memory raises it\n",
                 static_cast<long long>(spec.limits.memory_bytes));
  if (result.pids_limit_reached)
    std::fprintf(stderr,
                 "agentfense: the pids limit (%lld) refused the command a new process; "
                 "--pids raises it\n",
                 static_cast<long long>(spec.limits.pids_limit));
  if (result.timed_out) {
    std::fprintf(stderr, "agentfense: command timed out after %.3gs and was killed\n",
                 args.timeout_seconds);
    return kTimeoutExitCode;
  }
  if (!changes_ok && result.exit_code == 0) return 1;
  return result.exit_code;
}

}  // namespace

Command add_run_command(CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* cmd = app.add_subcommand("run", "Run one command sandboxed with DIR at /workspace");
  args->policy.add_to(*cmd);
  args->quota.add_to(*cmd);
  cmd->add_option("--audit", args->audit,
                  "Append the audit trail (docs/audit.md: every file access decision and "
                  "the command's result, hash-chained JSON lines) to FILE, outside DIR");
  add_audit_max_bytes_option(*cmd, args->audit_max_bytes);
  cmd->add_option("--changes", args->changes,
                  "What to do with the command's writes: show (default), apply, discard. A "
                  "run stopped by Ctrl-C, SIGTERM or SIGHUP never applies: its changes are "
                  "shown (or discarded with discard) and exit status is 128+signal");
  cmd->add_option("--timeout", args->timeout_seconds,
                  "Kill the command after SECONDS (default 1800; 0 = never; at most 31536000, "
                  "fractions round up to the next millisecond)");
  cmd->add_option("--memory", args->limits.memory,
                  "Memory limit, e.g. 512M; also the size of the private /tmp (default 4G, or "
                  "half the RAM if less; 0 = unlimited)");
  cmd->add_option("--pids", args->limits.pids,
                  "Maximum number of processes and threads (default 1024; 0 = unlimited)");
  cmd->add_flag("--network", args->network,
                "Allow outbound network access from the sandbox's own network namespace; the "
                "host's loopback stays unreachable (off by default)");
  cmd->add_flag("--prewarm", args->prewarm,
                "Walk the codebase in the background from the start, as server sandboxes "
                "do: a first grep -r or tar of a large tree finds much of it known "
                "(BENCHMARKS.md: 20-30 % faster; a short command pays a little CPU)");
  args->runtime_flags.add_to(*cmd);
  cmd->add_option("--env", args->env, "Set KEY=VALUE in the command's environment")
      ->allow_extra_args(false);
  cmd->add_option("--workdir", args->workdir, "Working directory inside the sandbox");
  cmd->add_option("DIR", args->dir, "Codebase directory")->required();
  cmd->add_option("CMD", args->command, "Command and arguments (after --)")->required();
  return [args] { return run_command(*args); };
}

}  // namespace agentfense::cli
