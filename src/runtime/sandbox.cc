// run_sandboxed: a linear chain of checked steps, each owning its resources RAII-style
// so that a failure at any step unwinds everything before it:
//   validate spec -> clean env -> generate /etc -> seccomp program -> cgroup ->
//   bwrap argv -> stdio pipes -> fork (child: exec_child) -> pump I/O until exit or
//   deadline -> kill the tree -> reap -> drain output -> (scope exit) remove cgroup.
#include "runtime/sandbox.h"

#include <unistd.h>

#include <csignal>
#include <memory>

#include "common/errors.h"
#include "runtime/bwrap_args.h"
#include "runtime/cgroup.h"
#include "runtime/child_exec.h"
#include "runtime/child_process.h"
#include "runtime/clean_env.h"
#include "runtime/etc_files.h"
#include "runtime/io_pump.h"
#include "runtime/seccomp_filter.h"
#include "runtime/stdio_pipes.h"

namespace agentfense::runtime {
namespace {

constexpr uid_t kDefaultSandboxUid = 60999;
constexpr gid_t kDefaultSandboxGid = 60999;

bool has_limits(const Limits& limits) {
  return limits.memory_bytes > 0 || limits.cpu_quota > 0 || limits.cpu_shares > 0 ||
         limits.pids_limit > 0;
}

void validate(const ExecSpec& spec) {
  if (spec.argv.empty() || spec.argv.front().empty()) throw UserError("no command given");
  const Limits& l = spec.limits;
  if (l.memory_bytes < 0 || l.cpu_quota < 0 || l.cpu_shares < 0 || l.pids_limit < 0)
    throw UserError("resource limits must not be negative");
  if (spec.timeout.count() < 0) throw UserError("timeout must not be negative");
  // Without root there is no cgroup; the pid namespace still ends the tree when bwrap
  // dies, but limits cannot be enforced.
  if (::geteuid() != 0 && has_limits(spec.limits))
    throw SystemError("resource limits need root (cgroups)", EPERM);
}

std::string sandbox_workdir(const ExecSpec& spec) {
  // Without a workspace the default workdir does not exist; start in the private /tmp.
  if (spec.workspace_fd < 0 && spec.workdir == "/workspace") return "/tmp";
  return resolve_workdir(spec.workdir);
}

// Everything the child needs, resolved before fork (see child_exec.h).
ChildPlan make_child_plan(const ExecSpec& spec, const StdioPipes& stdio,
                          const SandboxCgroup* cgroup, int seccomp_fd,
                          const std::vector<GeneratedFile>& etc_files) {
  const bool as_root = ::geteuid() == 0;
  const bool root_ids = spec.host_uid == 0 || spec.host_gid == 0;
  const auto [uid, gid] =
      root_ids ? default_sandbox_ids() : std::pair{spec.host_uid, spec.host_gid};
  ChildPlan plan{.stdin_fd = stdio.child_stdin(),
                 .stdout_fd = stdio.child_stdout(),
                 .stderr_fd = stdio.child_stderr(),
                 .inherited_fds = {seccomp_fd},
                 .workspace_fd = spec.workspace_fd,
                 .drop_privileges = as_root,
                 .uid = uid,
                 .gid = gid,
                 .parent_pid = ::getpid(),
                 .program = kBwrapPath};
  if (cgroup) plan.cgroup_join_fds = cgroup->join_fds();
  if (spec.workspace_fd >= 0) plan.inherited_fds.push_back(spec.workspace_fd);
  for (const GeneratedFile& file : etc_files) plan.inherited_fds.push_back(file.content.get());
  return plan;
}

void collect_output(IoPump& pump, ExecResult& result) {
  CapturedStream& out = pump.stream(Stream::kStdout);
  CapturedStream& err = pump.stream(Stream::kStderr);
  result.stdout_data = std::move(out.data);
  result.stderr_data = std::move(err.data);
  result.stdout_truncated = out.truncated;
  result.stderr_truncated = err.truncated;
}

}  // namespace

std::pair<uid_t, gid_t> default_sandbox_ids() {
  return {kDefaultSandboxUid, kDefaultSandboxGid};
}

ExecResult run_sandboxed(const ExecSpec& spec) {
  const auto started = std::chrono::steady_clock::now();
  validate(spec);
  const std::string workdir = sandbox_workdir(spec);
  const CStringArray envp(clean_environment(spec.env, workdir));
  const std::vector<GeneratedFile> etc_files = generate_etc_files(spec.network);
  const UniqueFd seccomp = export_seccomp_filter();
  std::unique_ptr<SandboxCgroup> cgroup;
  if (::geteuid() == 0) cgroup = SandboxCgroup::create(spec.limits);
  const CStringArray argv(bwrap_argv({.command = spec.argv,
                                      .workspace_fd = spec.workspace_fd,
                                      .workdir = workdir,
                                      .network = spec.network,
                                      .seccomp_fd = seccomp.get(),
                                      .etc_files = &etc_files}));
  StdioPipes stdio = StdioPipes::create(spec.inherit_stdio, spec.stdin_data.has_value());

  ChildPlan plan = make_child_plan(spec, stdio, cgroup.get(), seccomp.get(), etc_files);
  plan.argv = argv.get();
  plan.envp = envp.get();
  ChildProcess bwrap = ChildProcess::spawn([&plan] { return exec_child(plan); });
  stdio.close_child_ends();

  IoPump pump(std::move(stdio.out.parent_end), std::move(stdio.err.parent_end),
              std::move(stdio.in.parent_end), spec.stdin_data.value_or(""), spec.output_limit,
              spec.on_output);
  IoPump::Deadline deadline;
  if (spec.timeout.count() > 0) deadline = started + spec.timeout;

  ExecResult result;
  result.timed_out = !pump.pump_until_exit(bwrap.pidfd(), deadline);
  // The whole tree dies here, daemons included: the cgroup holds every process the
  // command ever started, and killing bwrap ends its pid namespace.
  if (cgroup) cgroup->kill_all();
  if (result.timed_out) bwrap.kill();
  const int status = bwrap.wait();
  result.exit_code = result.timed_out ? 128 + SIGKILL : status;
  pump.drain();
  collect_output(pump, result);
  result.duration = std::chrono::steady_clock::now() - started;
  return result;
}

}  // namespace agentfense::runtime
