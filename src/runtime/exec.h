// One command: what to run (ExecSpec, with its Limits) and how it ended (ExecResult),
// shared by sessions and the docker runtime, and run_sandboxed, the bwrap runtime's
// entry point that runs one command inside a fresh bubblewrap boundary with the
// permission filesystem bound at /workspace.
//
// What the boundary guarantees (DESIGN.md "Runtimes"): an unprivileged host uid (never
// root) that is uid 1000 "agent" inside a user namespace, no capabilities, no_new_privs,
// a seccomp filter, pid/ipc/uts/cgroup (+net unless asked) namespaces, read-only host
// /usr, a generated minimal /etc, a private /tmp, a clean environment, cgroup limits and
// timeouts that kill the whole process tree.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agentfense::runtime {

// The kernel's (and Docker's) smallest CPU quota per period, in microseconds.
inline constexpr int64_t kMinCpuQuota = 1000;
// The period quotas are given per (the kernel's default, 100 ms): one CPU's quota.
inline constexpr int64_t kCpuPeriod = 100000;

// Resource limits; 0 means unlimited.
struct Limits {
  int64_t memory_bytes = 0;  // RAM; swap is not granted on top of it. The private /tmp
                             // (tmpfs, charged to it) gets half of it.
  int64_t cpu_quota = 0;     // microseconds of CPU per 100 ms period (Docker's CpuQuota):
                             // 100000 = one CPU, 25000 = a quarter of one; >= 1000
  int64_t cpu_shares = 0;    // relative weight, cgroup v1 scale (1024 = default)
  int64_t pids_limit = 0;    // processes + threads, bwrap's own 2 processes included
};

// Whether any limit is set (0 = none).
inline bool has_limits(const Limits& limits) {
  return limits.memory_bytes > 0 || limits.cpu_quota > 0 || limits.cpu_shares > 0 ||
         limits.pids_limit > 0;
}

enum class Stream { kStdout, kStderr };

class SandboxCgroup;  // cgroup.h

struct ExecSpec {
  std::vector<std::string> argv;           // execvp'd inside the sandbox
  int workspace_fd = -1;                   // O_PATH fd of the mountpoint; -1 = no /workspace
  std::string workdir = "/workspace";      // relative paths are relative to /workspace
  std::map<std::string, std::string> env;  // on top of the clean base env (see clean_env.h)
  std::optional<std::string> stdin_data;   // nullopt: stdin = /dev/null (unless inherit_stdio)
  bool inherit_stdio = false;  // CLI use: child uses our 0/1/2; no capture, stdin_data unused
  std::chrono::milliseconds timeout{0};  // 0 = none
  Limits limits;
  // Optional: the sandbox's cgroup (SandboxCgroup::create_for_sandbox); the command's
  // goes below it, so the sandbox's limits bound it with everything else it runs.
  std::shared_ptr<const SandboxCgroup> cgroup_parent;
  std::size_t output_limit = 16 << 20;  // per stream; beyond it output is dropped + flag
  bool network = false;
  // Unprivileged host ids to run as when we are root. 0 (or root's ids) means
  // default_sandbox_ids(): a sandbox never runs as host root.
  uid_t host_uid = 0;
  gid_t host_gid = 0;
  // Optional: when this fd becomes readable the command is killed like on a timeout and
  // the result says cancelled (the server stopping a sandbox with commands in flight).
  int cancel_fd = -1;
  // Optional: called with every captured chunk as it arrives (not for dropped output),
  // instead of keeping it: the result's stdout_data and stderr_data then stay empty.
  std::function<void(Stream, std::string_view)> on_output;
};

struct ExecResult {
  std::string stdout_data, stderr_data;
  // The command's exit status; 128+N when killed by signal N. A timeout reports
  // timed_out=true and exit_code=128+SIGKILL (137): the tree was SIGKILLed.
  int exit_code = 0;
  bool timed_out = false;
  bool cancelled = false;  // cancel_fd fired; exit_code is 137 as for a timeout
  // The kernel killed a process of the command for exceeding the memory limit (when
  // that process was the command itself, exit_code is 137). Under docker only a kill
  // that ended the command is reported (the container's counter is shared by its execs).
  bool oom_killed = false;
  // A fork/clone of the command failed because the pids limit was reached (the
  // command saw EAGAIN, "Resource temporarily unavailable"; nothing was killed).
  bool pids_limit_reached = false;
  bool stdout_truncated = false, stderr_truncated = false;
  std::chrono::nanoseconds duration{};
};

// Throws UserError for an invalid spec and SystemError when a setup step fails. A
// command that cannot start inside the sandbox (e.g. not found) is an ordinary
// non-zero exit with bwrap's message on stderr.
ExecResult run_sandboxed(const ExecSpec& spec);

// The host uid/gid sandboxes run as when we are root: 60999:60999, a dedicated id in
// Debian's "globally allocated" 60000-64999 range that no package uses and that owns
// nothing on the host, so a sandbox escape lands on an identity with no files and no
// group memberships. The mount for the sandbox's /workspace is owned by it.
std::pair<uid_t, gid_t> default_sandbox_ids();

}  // namespace agentfense::runtime
