#include "runtime/docker/container_exec.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <csignal>

#include "common/errors.h"
#include "runtime/bwrap_args.h"
#include "runtime/docker/container_scope.h"
#include "runtime/docker/env_script.h"
#include "runtime/docker/output_capture.h"

namespace agentfense::runtime::docker {
namespace {

using std::chrono::steady_clock;

// $1 = workdir, then the command's argv. Reads "<N>\n" and N lines of environment script
// from stdin (the rest of stdin is the command's), cd's to the workdir, evaluates the
// script once its own variables are gone (the caller's may override PWD, as under bwrap)
// and becomes the command. POSIX sh: it runs in the image's /bin/sh.
constexpr const char* kPrologue = R"SH(printf .
IFS= read -r __af_lines || exit 125
__af_env=
while [ "$__af_lines" -gt 0 ]; do
  IFS= read -r __af_line || exit 125
  __af_env="$__af_env$__af_line
"
  __af_lines=$((__af_lines - 1))
done
set -- "$__af_env" "$@"
unset __af_lines __af_line __af_env
cd -- "$2" || exit 1
unset OLDPWD
eval "$1"
shift 2
exec "$@"
)SH";

constexpr auto kStartTimeout = std::chrono::seconds(30);
// After the command's process exited and its tree was killed: how long what dockerd
// still relays may take, and how long dockerd may take to record the exit code.
constexpr auto kDrainTimeout = std::chrono::seconds(5);
constexpr auto kExitCodeTimeout = std::chrono::seconds(5);
constexpr int kKilledExitCode = 128 + SIGKILL;

std::string workdir_of(const ExecSpec& spec) {
  // Without a workspace the default workdir does not exist; start in the private /tmp.
  if (spec.workspace_fd < 0 && spec.workdir == "/workspace") return "/tmp";
  return resolve_workdir(spec.workdir);
}

std::size_t line_count(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

void write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // our own stdout is gone: nothing left to show it on
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace

std::vector<std::string> one_shot_argv(const ExecSpec& spec) {
  if (spec.argv.empty() || spec.argv.front().empty()) throw UserError("no command given");
  std::vector<std::string> argv = {"/bin/sh", "-c", kPrologue, "sh", workdir_of(spec)};
  argv.insert(argv.end(), spec.argv.begin(), spec.argv.end());
  return argv;
}

ExecResult run_in_container(const ExecTarget& target, const ExecSpec& spec) {
  if (spec.timeout.count() < 0) throw UserError("timeout must not be negative");
  // In a Landlock domain of its own: no session's leftover process can open its /proc
  // files (stdin, environment, memory) or signal it (container_scope.h).
  const std::vector<std::string> argv = scoped(target.scope, one_shot_argv(spec));
  const std::string env = export_script(spec.env);
  const auto started = steady_clock::now();
  ExecStream::Deadline deadline;
  if (spec.timeout.count() > 0) deadline = started + spec.timeout;
  // The container's counters are shared by its concurrent execs: an OOM kill counts
  // as this command's only when it ended the command.
  const LimitHits hits_before = target.cgroups.limit_hits();

  Launch launch = launch_exec(target, argv, "exec", started + kStartTimeout);
  ExecResult result;
  if (!launch.exec) {
    result.exit_code = launch.failure.exit_code;
    if (!spec.on_output)
      result.stderr_data = launch.failure.message;
    else if (!launch.failure.message.empty())  // output goes there (ExecSpec::on_output)
      spec.on_output(Stream::kStderr, launch.failure.message);
    result.duration = steady_clock::now() - started;
    return result;
  }
  LaunchedExec& exec = *launch.exec;
  OutputCapture capture(spec.output_limit, spec.on_output);
  if (spec.inherit_stdio) {
    exec.stream->set_sink([](Stream which, std::string_view data) {
      write_all(which == Stream::kStdout ? STDOUT_FILENO : STDERR_FILENO, data);
    });
  } else {
    exec.stream->set_sink(
        [&capture](Stream which, std::string_view data) { capture.add(which, data); });
  }
  exec.stream->send_stdin(std::to_string(line_count(env)) + "\n" + env);
  if (spec.inherit_stdio) {
    exec.stream->forward_stdin_from(STDIN_FILENO);
  } else {
    exec.stream->send_stdin(spec.stdin_data.value_or(""));
    exec.stream->close_stdin();
  }

  const std::array watched = {exec.pidfd.get(), spec.cancel_fd};
  const std::optional<std::size_t> fired = exec.stream->pump_until_readable(watched, deadline);
  result.timed_out = !fired;
  result.cancelled = fired == 1u;
  // As under bwrap, nothing of the command outlives it: daemons die with it too.
  exec.cgroup->kill_all();
  exec.stream->drain(steady_clock::now() + kDrainTimeout);
  if (fired == 0u) {
    result.exit_code =
        exec_exit_code(*target.engine, exec.id, steady_clock::now() + kExitCodeTimeout)
            .value_or(kKilledExitCode);
  } else {
    result.exit_code = kKilledExitCode;
  }
  const LimitHits hits = target.cgroups.limit_hits().since(hits_before);
  result.oom_killed = result.exit_code == kKilledExitCode && hits.oom_kills > 0;
  result.pids_limit_reached = hits.pids_refused > 0;
  if (!spec.inherit_stdio) capture.collect(result);
  result.duration = steady_clock::now() - started;
  return result;
}

}  // namespace agentfense::runtime::docker
