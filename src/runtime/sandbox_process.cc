// SandboxProcess::start is a linear chain of checked steps, each owning its resources
// RAII-style so that a failure at any step unwinds everything before it:
//   validate spec -> clean env -> generate /etc -> seccomp program -> cgroup ->
//   bwrap options (memfd) -> stdio pipes -> fork (child: exec_child) -> close the
//   child's ends -> (network on) learn the sandbox's pid, start the network helper,
//   release the command.
// bwrap runs with the fixed helper environment (helper_env.h); the command's own
// environment travels inside the options memfd (--clearenv/--setenv).
#include "runtime/sandbox_process.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <exception>

#include "common/errors.h"
#include "runtime/bwrap_args.h"
#include "runtime/cgroup_delegation.h"
#include "runtime/child_exec.h"
#include "runtime/clean_env.h"
#include "runtime/etc_files.h"
#include "runtime/helper_env.h"
#include "runtime/memfd.h"
#include "runtime/seccomp_filter.h"
#include "runtime/session_source_file.h"
#include "runtime/stdio_pipes.h"

namespace agentfense::runtime {
namespace {

void validate(const ExecSpec& spec) {
  if (spec.argv.empty() || spec.argv.front().empty()) throw UserError("no command given");
  const Limits& l = spec.limits;
  if (l.memory_bytes < 0 || l.cpu_quota < 0 || l.cpu_shares < 0 || l.pids_limit < 0)
    throw UserError("resource limits must not be negative");
  if (l.cpu_quota > 0 && l.cpu_quota < kMinCpuQuota)
    throw UserError(
        "cpu_quota is microseconds of CPU per 100 ms period (Docker's unit); "
        "at least 1000, 1% of one CPU");
  if (spec.timeout.count() < 0) throw UserError("timeout must not be negative");
  // Without root and without a delegated cgroup there is no cgroup; the pid namespace
  // still ends the tree when bwrap dies, but limits cannot be enforced.
  if (has_limits(spec.limits) && !cgroup_limits_available())
    throw SystemError("resource limits need root or a delegated cgroup", EPERM);
}

// Half the memory limit: tmpfs pages are charged to the sandbox's memory cgroup, so a
// /tmp as large as the limit would end in the OOM killer instead of ENOSPC, and the
// other half stays for the processes themselves. Unlimited memory: tmpfs's default.
int64_t private_tmp_size(const Limits& limits) {
  return limits.memory_bytes > 0 ? std::max<int64_t>(limits.memory_bytes / 2, 1 << 20) : 0;
}

std::string sandbox_workdir(const ExecSpec& spec) {
  // Without a workspace the default workdir does not exist; start in the private /tmp.
  if (spec.workspace_fd < 0 && spec.workdir == "/workspace") return "/tmp";
  return resolve_workdir(spec.workdir);
}

// Everything the child needs, resolved before fork (see child_exec.h).
ChildPlan make_child_plan(const ExecSpec& spec, const StdioPipes& stdio,
                          const SandboxCgroup* cgroup, int seccomp_fd,
                          const std::vector<GeneratedFile>& etc_files, int options_fd,
                          const std::vector<int>& pass_fds, const std::vector<int>& network_fds) {
  const bool as_root = ::geteuid() == 0;
  const bool root_ids = spec.host_uid == 0 || spec.host_gid == 0;
  const auto [uid, gid] =
      root_ids ? default_sandbox_ids() : std::pair{spec.host_uid, spec.host_gid};
  ChildPlan plan{.stdin_fd = stdio.child_stdin(),
                 .stdout_fd = stdio.child_stdout(),
                 .stderr_fd = stdio.child_stderr(),
                 .inherited_fds = {seccomp_fd, options_fd},
                 .workspace_fd = spec.workspace_fd,
                 .drop_privileges = as_root,
                 .uid = uid,
                 .gid = gid,
                 .parent_pid = ::getpid(),
                 .program = kBwrapPath,
                 .envp = helper_environment()};
  if (cgroup) plan.cgroup_join_fds = cgroup->join_fds();
  if (spec.workspace_fd >= 0) plan.inherited_fds.push_back(spec.workspace_fd);
  for (const GeneratedFile& file : etc_files) plan.inherited_fds.push_back(file.content.get());
  plan.inherited_fds.insert(plan.inherited_fds.end(), network_fds.begin(), network_fds.end());
  // bwrap leaves fds it was not told about alone, so these reach the command as-is.
  plan.inherited_fds.insert(plan.inherited_fds.end(), pass_fds.begin(), pass_fds.end());
  return plan;
}

// Networked sandboxes only: bwrap tells us its sandbox's pid on `info` and holds the
// command until `release` is readable, while we attach the network helper.
struct NetworkHandshake {
  UniqueFd info_read, info_write, release_read, release_write;

  static NetworkHandshake create(bool network) {
    NetworkHandshake handshake;
    if (!network) return handshake;
    int fds[2];
    check_syscall(::pipe2(fds, O_CLOEXEC), "pipe2 bwrap info");
    handshake.info_read.reset(fds[0]);
    handshake.info_write.reset(fds[1]);
    check_syscall(::pipe2(fds, O_CLOEXEC), "pipe2 bwrap block");
    handshake.release_read.reset(fds[0]);
    handshake.release_write.reset(fds[1]);
    return handshake;
  }
  std::vector<int> child_fds() const {
    if (!info_write) return {};
    return {info_write.get(), release_read.get()};
  }
  void close_child_ends() {
    info_write.reset();
    release_read.reset();
  }
};

constexpr auto kNetworkSetupTimeout = std::chrono::seconds(10);

}  // namespace

SandboxProcess SandboxProcess::start(const ExecSpec& spec, const std::vector<int>& pass_fds,
                                     bool own_cgroup, bool workspace_later) {
  validate(spec);
  for (const int fd : pass_fds)
    if (fd <= STDERR_FILENO) throw UserError("pass_fds must not include stdio");
  const std::string workdir = sandbox_workdir(spec);
  std::vector<GeneratedFile> etc_files = generate_etc_files(spec.network);
  etc_files.push_back(session_source_file());  // tiny; lets a session shell name itself
  const UniqueFd seccomp = export_seccomp_filter();
  std::unique_ptr<SandboxCgroup> cgroup;
  if (own_cgroup && (::geteuid() == 0 || has_limits(spec.limits)))
    cgroup = SandboxCgroup::create(spec.limits, spec.cgroup_parent);
  NetworkHandshake network = NetworkHandshake::create(spec.network);
  const std::vector<std::string> options_list = bwrap_options({
      .env = clean_environment(spec.env, workdir),
      .workspace_fd = spec.workspace_fd,
      .workspace_later = workspace_later && spec.workspace_fd < 0,
      .workdir = workdir,
      .network = spec.network,
      .seccomp_fd = seccomp.get(),
      .tmp_size = private_tmp_size(spec.limits),
      .info_fd = network.info_write ? network.info_write.get() : -1,
      .block_fd = network.release_read ? network.release_read.get() : -1,
      .etc_files = &etc_files,
  });
  const UniqueFd options = sealed_memfd("agentfense-bwrap-args", join_bwrap_options(options_list));
  const CStringArray argv(bwrap_command_line(options.get(), spec.argv));
  StdioPipes stdio = StdioPipes::create(spec.inherit_stdio, spec.stdin_data.has_value());

  ChildPlan plan = make_child_plan(spec, stdio, cgroup.get(), seccomp.get(), etc_files,
                                   options.get(), pass_fds, network.child_fds());
  plan.argv = argv.get();
  plan.workspace_later = workspace_later && spec.workspace_fd < 0;
  // vfork: a copy of a large server's page tables cost 1-2 ms before bwrap even ran.
  SandboxProcess process(ChildProcess::spawn_vfork([&plan] { return exec_child(plan); }),
                         std::move(cgroup));
  stdio.close_child_ends();
  network.close_child_ends();
  if (spec.network) {
    const pid_t sandbox_pid =
        read_sandbox_pid(network.info_read.get(), process.pidfd(), kNetworkSetupTimeout);
    process.network_ = std::make_unique<NetworkHelper>(NetworkHelper::start({
        .sandbox_pid = sandbox_pid,
        .bwrap_pidfd = process.pidfd(),
        .drop_privileges = plan.drop_privileges,
        .uid = plan.uid,
        .gid = plan.gid,
        .cgroup_join_fds = plan.cgroup_join_fds,
        .ready_timeout = kNetworkSetupTimeout,
    }));
    check_syscall(::write(network.release_write.get(), "1", 1), "release the sandboxed command");
  }
  process.stdin_write_ = std::move(stdio.in.parent_end);
  process.stdout_read_ = std::move(stdio.out.parent_end);
  process.stderr_read_ = std::move(stdio.err.parent_end);
  return process;
}

SandboxProcess::~SandboxProcess() {
  try {
    terminate();
  } catch (const std::exception&) {
    // The cgroup could not be told to kill (cgroup.kill write failed): bwrap's death
    // still ends its pid namespace, and with it every process inside.
    bwrap_.kill();
    bwrap_.wait();
  }
}

void SandboxProcess::kill_tree() {
  if (cgroup_) cgroup_->kill_all();
  bwrap_.kill();  // no cgroup without root; a no-op once reaped
}

int SandboxProcess::terminate() {
  kill_tree();
  const int status = bwrap_.wait();
  if (status >= 0) exit_status_ = status;
  network_.reset();  // kills (if the cgroup has not already) and reaps the helper
  return exit_status_;
}

}  // namespace agentfense::runtime
