// run_sandboxed = start the boundary (SandboxProcess: the whole launch chain) -> pump
// I/O until exit or deadline -> kill the tree -> reap -> read what the limits did ->
// drain output -> (scope exit) remove the cgroup.
#include "runtime/exec.h"

#include <csignal>
#include <optional>
#include <vector>

#include "runtime/io_pump.h"
#include "runtime/sandbox_process.h"

namespace agentfense::runtime {
namespace {

constexpr uid_t kDefaultSandboxUid = 60999;
constexpr gid_t kDefaultSandboxGid = 60999;

}  // namespace

std::pair<uid_t, gid_t> default_sandbox_ids() {
  return {kDefaultSandboxUid, kDefaultSandboxGid};
}

ExecResult run_sandboxed(const ExecSpec& spec) {
  const auto started = std::chrono::steady_clock::now();
  SandboxProcess process = SandboxProcess::start(spec);
  IoPump pump(process.take_stdout(), process.take_stderr(), process.take_stdin(),
              spec.stdin_data.value_or(""), spec.output_limit, spec.on_output);
  IoPump::Deadline deadline;
  if (spec.timeout.count() > 0) deadline = started + spec.timeout;

  ExecResult result;
  std::vector<int> watched = {process.pidfd()};
  if (spec.cancel_fd >= 0) watched.push_back(spec.cancel_fd);
  const std::optional<std::size_t> fired = pump.pump_until_readable(watched, deadline);
  result.timed_out = !fired;
  result.cancelled = fired == 1u;
  // Daemons die here too: the command's exit does not end the sandbox for them.
  const int status = process.terminate();
  result.exit_code = fired == 0u ? status : 128 + SIGKILL;
  // The cgroup is this command's alone, so every count in it is the command's.
  const LimitHits hits = process.limit_hits();
  result.oom_killed = hits.oom_kills > 0;
  result.pids_limit_reached = hits.pids_refused > 0;
  pump.drain();
  pump.collect(result);
  result.duration = std::chrono::steady_clock::now() - started;
  return result;
}

}  // namespace agentfense::runtime
