#include "runtime/docker/docker_session.h"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <exception>

#include "common/errors.h"
#include "runtime/docker/engine_errors.h"
#include "runtime/docker/env_script.h"
#include "runtime/docker/fence_filter.h"
#include "runtime/docker/output_capture.h"
#include "runtime/docker/session_link.h"
#include "runtime/docker/session_scripts.h"
#include "runtime/execute_only_shell.h"

namespace agentfense::runtime::docker {
namespace {

using std::chrono::steady_clock;

constexpr auto kReadyTimeout = std::chrono::seconds(30);
// As ShellSession: each abort round interrupts the shell and kills the command's
// processes; a shell silent after all rounds is stuck and gets replaced.
constexpr int kAbortRounds = 20;
constexpr auto kAbortRound = std::chrono::milliseconds(100);
constexpr int kTimeoutExitCode = 128 + SIGKILL;
// After its report, how long a command's last output may take to come through dockerd.
constexpr auto kFenceTimeout = std::chrono::seconds(30);
constexpr auto kEndTimeout = std::chrono::seconds(5);

bool is_readable(int fd) {
  if (fd < 0) return false;
  pollfd probe{.fd = fd, .events = POLLIN, .revents = 0};
  // An error here (EINTR, ENOMEM) reads as "not yet": the loop watches the fd anyway.
  return ::poll(&probe, 1, 0) == 1 && (probe.revents & POLLIN);
}

}  // namespace

// One incarnation of the shell: its exec, its channel, and the output filters. The
// stream's sink stays pointed at the filters; `capture` is the command running now.
struct DockerSession::Shell {
  LaunchedExec exec;
  SessionLink link;
  FenceFilter out, err;
  OutputCapture* capture = nullptr;
  std::string startup_stderr;

  Shell(LaunchedExec launched, SessionLink channel)
      : exec(std::move(launched)), link(std::move(channel)) {
    exec.stream->set_sink([this](Stream which, std::string_view data) {
      FenceFilter& filter = which == Stream::kStdout ? out : err;
      filter.feed(data, [this, which](std::string_view kept) {
        if (capture) capture->add(which, kept);
      });
    });
  }
  void interrupt() const {
    // Fails only once the shell is gone, which its pidfd then says.
    (void)::syscall(SYS_pidfd_send_signal, exec.pidfd.get(), SIGUSR1, nullptr, 0);
  }
  // Ends the shell and everything it started; the stream then reaches its end.
  void terminate() const { exec.cgroup->kill_all(); }
};

DockerSession::DockerSession(std::shared_ptr<RunningContainer> container, SessionSpec spec)
    : container_(std::move(container)), spec_(std::move(spec)) {
  session_shell_path(spec_.shell);  // bash only, as under bwrap
  (void)export_script(spec_.env);   // validates the names before anything starts
  set_shell(start_shell(spec_.workdir));
  const std::lock_guard lock(exec_mutex_);
  apply_env();
  if (!alive_) throw SystemError("session shell exited while applying its environment", ECHILD);
}

void DockerSession::apply_env() {
  // The caller's variables reach the commands, not the driver loop: exported by a first
  // command whose output and status nobody sees (SHELLOPTS and friends are read-only in
  // bash; refusing them is bash's answer).
  const std::string env = export_script(spec_.env);
  if (!env.empty()) (void)run(env, kReadyTimeout, {}, -1);
}

DockerSession::~DockerSession() {
  try {
    close();
  } catch (const std::exception&) {
    // shell_'s tracking cgroup still kills the shell when it is destroyed.
  }
}

std::unique_ptr<DockerSession::Shell> DockerSession::start_shell(const std::string& start_dir) {
  const ContainerBash bash = container_->session_bash();
  SessionLink link = SessionLink::listen(container_->init_pid());
  const auto deadline = steady_clock::now() + kReadyTimeout;
  Launch launch = launch_exec(container_->exec_target(),
                              session_argv(bash.copy, bash.source, start_dir), "session", deadline);
  if (!launch.exec)
    throw SystemError("session shell failed to start: " + launch.failure.message, ECHILD);
  auto shell = std::make_unique<Shell>(std::move(*launch.exec), std::move(link));
  shell->exec.stream->send_stdin(std::to_string(shell->link.port()) + " " + shell->link.token() +
                                 "\n");
  shell->exec.stream->close_stdin();
  if (!shell->exec.stream->pump_until([&shell] { return shell->exec.stream->stdin_sent(); },
                                      deadline))
    throw SystemError("the session shell does not read its stdin", ETIMEDOUT);
  try {
    shell->link.accept_shell(deadline);
  } catch (const SystemError& error) {
    shell->terminate();
    shell->exec.stream->drain(steady_clock::now() + kEndTimeout);
    throw SystemError(std::string(error.what()) + ": " + shell->err.take_held(), error.code());
  }
  // The report may have come with the token already.
  for (std::optional<StatusMessage> message = shell->link.receive();
       !message || message->kind != StatusMessage::Kind::kReady; message = shell->link.receive()) {
    const std::array watched = {shell->link.fd(), shell->exec.pidfd.get()};
    const auto ready = shell->link.closed()
                           ? std::optional<std::size_t>(1)
                           : shell->exec.stream->pump_until_readable(watched, deadline);
    if (!ready) throw SystemError("session shell did not become ready", ETIMEDOUT);
    if (*ready == 1) {
      shell->terminate();
      shell->exec.stream->drain(steady_clock::now() + kEndTimeout);
      throw SystemError("session shell exited while starting: " + shell->err.take_held(), ECHILD);
    }
  }
  shell->exec.stream->drain_available();
  shell->startup_stderr = shell->err.take_held();
  (void)shell->out.take_held();
  return shell;
}

void DockerSession::set_shell(std::unique_ptr<Shell> shell) {
  const std::lock_guard lock(shell_mutex_);
  if (closing_) return;  // close() raced us; the new shell dies with `shell`
  shell_ = std::move(shell);
  alive_ = true;
}

void DockerSession::close() {
  closing_ = true;
  {
    // A running exec sees its shell die and returns; then we can take the lock.
    const std::lock_guard lock(shell_mutex_);
    if (shell_) shell_->terminate();
  }
  const std::lock_guard exec_lock(exec_mutex_);
  std::unique_ptr<Shell> shell;
  {
    const std::lock_guard lock(shell_mutex_);
    shell = std::move(shell_);
  }
  alive_ = false;
}

pid_t DockerSession::shell_pid() const {
  const std::lock_guard lock(shell_mutex_);
  return shell_ ? shell_->exec.pid : -1;
}

ExecResult DockerSession::exec(const std::string& command, std::chrono::milliseconds timeout,
                               const OutputCallback& on_output, int cancel_fd) {
  if (command.find('\0') != std::string::npos)
    throw UserError("command must not contain NUL bytes");
  if (timeout.count() < 0) throw UserError("timeout must not be negative");
  const std::lock_guard lock(exec_mutex_);
  if (!alive_ || !shell_) throw UserError("session closed");
  if (is_readable(cancel_fd)) {  // cancelled while queued behind another command
    ExecResult result;
    result.cancelled = true;
    result.exit_code = kTimeoutExitCode;
    return result;
  }
  return run(command, timeout, on_output, cancel_fd);
}

ExecResult DockerSession::run(const std::string& command, std::chrono::milliseconds timeout,
                              const OutputCallback& on_output, int cancel_fd) {
  const auto started = steady_clock::now();
  const CommandId id{.seq = next_seq_++, .nonce = new_command_nonce()};
  ExecResult result;
  OutputCapture capture(spec_.output_limit, on_output);
  Shell& shell = *shell_;
  // One command at a time per session, but the container's counters are shared with
  // other execs: as for a one-shot exec, an OOM kill counts only when it ended this one.
  const LimitHits hits_before = container_->exec_target().cgroups.limit_hits();
  const std::string fence = command_fence(id.seq, id.nonce);
  shell.out.expect(fence, [&capture](std::string_view d) { capture.add(Stream::kStdout, d); });
  shell.err.expect(fence, [&capture](std::string_view d) { capture.add(Stream::kStderr, d); });
  shell.capture = &capture;
  Deadline deadline;
  if (timeout.count() > 0) deadline = started + timeout;
  Outcome outcome = Outcome::kShellExited;
  try {
    shell.link.send(frame_command(id.seq, id.nonce, command),
                    deadline.value_or(started + kReadyTimeout));
    outcome = await_completion(id, deadline, result.exit_code, cancel_fd);
  } catch (const SystemError&) {
    outcome = Outcome::kNoAnswer;  // not even reading its commands: stuck
  }
  if (outcome == Outcome::kNoAnswer || outcome == Outcome::kCancelled) {
    result.timed_out = outcome == Outcome::kNoAnswer;
    result.cancelled = outcome == Outcome::kCancelled;
    outcome = abort_command(id, result.exit_code);
  }
  if (outcome != Outcome::kDone) {
    // Gone or stuck: end it and everything it started; the stream then ends, with the
    // last of the output.
    std::unique_ptr<Shell> ended;
    {
      const std::lock_guard lock(shell_mutex_);
      ended = std::move(shell_);
    }
    ended->terminate();
    ended->exec.stream->drain(steady_clock::now() + kEndTimeout);
    if (outcome == Outcome::kShellExited)
      result.exit_code =
          exec_exit_code(container_->engine(), ended->exec.id, steady_clock::now() + kEndTimeout)
              .value_or(kTimeoutExitCode);
    // Output the fence never closed off is this command's too.
    capture.add(Stream::kStdout, ended->out.take_held());
    capture.add(Stream::kStderr, ended->err.take_held());
    ended->capture = nullptr;
  } else {
    shell.capture = nullptr;
  }
  capture.collect(result);
  if (result.timed_out || result.cancelled) result.exit_code = kTimeoutExitCode;
  const LimitHits hits = container_->exec_target().cgroups.limit_hits().since(hits_before);
  result.oom_killed = result.exit_code == kTimeoutExitCode && hits.oom_kills > 0;
  result.pids_limit_reached = hits.pids_refused > 0;
  if (outcome == Outcome::kShellExited) alive_ = false;
  if (outcome == Outcome::kNoAnswer) replace_shell(result, on_output);
  result.duration = steady_clock::now() - started;
  return result;
}

DockerSession::Outcome DockerSession::await_completion(const CommandId& id, Deadline deadline,
                                                       int& exit_code, int cancel_fd) {
  Shell& shell = *shell_;
  for (;;) {
    const std::array watched = {shell.link.closed() ? -1 : shell.link.fd(), shell.exec.pidfd.get(),
                                cancel_fd};
    const auto ready = shell.exec.stream->pump_until_readable(watched, deadline);
    if (!ready) return Outcome::kNoAnswer;
    if (*ready == 1) return Outcome::kShellExited;
    if (*ready == 2) return Outcome::kCancelled;
    while (const std::optional<StatusMessage> message = shell.link.receive()) {
      // Only the shell holds the channel; the nonce keeps a stale report of an abandoned
      // command from completing this one.
      if (message->kind != StatusMessage::Kind::kDone || message->seq != id.seq ||
          message->nonce != id.nonce)
        continue;
      exit_code = message->exit_code;
      last_cwd_ = message->cwd;
      // The fences were written before the report: once they are through, so is all of
      // the command's output.
      shell.exec.stream->pump_until([&shell] { return shell.out.seen() && shell.err.seen(); },
                                    steady_clock::now() + kFenceTimeout);
      return Outcome::kDone;
    }
  }
}

DockerSession::Outcome DockerSession::abort_command(const CommandId& id, int& exit_code) {
  for (int round = 0; round < kAbortRounds; ++round) {
    // Interrupt first: the trap is then pending when the foreground job dies.
    shell_->interrupt();
    shell_->exec.cgroup->kill_all_except(shell_->exec.pid);
    const Outcome outcome = await_completion(id, steady_clock::now() + kAbortRound, exit_code);
    if (outcome != Outcome::kNoAnswer) return outcome;
  }
  return Outcome::kNoAnswer;
}

void DockerSession::replace_shell(ExecResult& result, const OutputCallback& on_output) {
  alive_ = false;  // until the new shell is in place
  std::string notice =
      "agentfense: the shell did not return after the timeout and was replaced by a new "
      "shell";
  try {
    std::unique_ptr<Shell> shell = start_shell(last_cwd_.empty() ? spec_.workdir : last_cwd_);
    notice += last_cwd_.empty() ? "" : " in " + last_cwd_;
    notice += "; shell variables, functions and background jobs were reset\n";
    notice += shell->startup_stderr;
    set_shell(std::move(shell));
    if (alive_) apply_env();
  } catch (const std::exception& e) {
    notice += std::string(", which failed to start (") + e.what() + "); the session is closed\n";
  }
  result.stderr_data += notice;
  if (on_output) on_output(Stream::kStderr, notice);
}

}  // namespace agentfense::runtime::docker
