#include "runtime/shell_session.h"

#include <poll.h>

#include <array>
#include <csignal>
#include <exception>

#include "common/errors.h"
#include "runtime/execute_only_shell.h"
#include "runtime/io_pump.h"
#include "runtime/shell_process.h"

namespace agentfense::runtime {
namespace {

using std::chrono::steady_clock;

constexpr auto kReadyTimeout = std::chrono::seconds(30);
// Aborting a command: each round interrupts the shell (one function level unwinds) and
// kills the command's processes; a shell still silent after all rounds is stuck
// (e.g. a builtin loop with the trap reset) and gets replaced.
constexpr int kAbortRounds = 20;
constexpr auto kAbortRound = std::chrono::milliseconds(100);
constexpr int kTimeoutExitCode = 128 + SIGKILL;  // as run_sandboxed reports a timeout

bool is_readable(int fd) {
  if (fd < 0) return false;
  pollfd probe{.fd = fd, .events = POLLIN, .revents = 0};
  // An error here (EINTR, ENOMEM) reads as "not yet": the pump watches the fd anyway.
  return ::poll(&probe, 1, 0) == 1 && (probe.revents & POLLIN);
}

void validate(const SessionSpec& spec) {
  session_shell_path(spec.shell);  // throws UserError for anything but bash
}

ExecSpec sandbox_spec(const SessionSpec& spec) {
  ExecSpec exec;
  exec.argv = {spec.shell};
  exec.workspace_fd = spec.workspace_fd;
  exec.workdir = spec.workdir;
  exec.env = spec.env;
  exec.limits = spec.limits;
  exec.network = spec.network;
  exec.host_uid = spec.host_uid;
  exec.host_gid = spec.host_gid;
  return exec;
}

}  // namespace

ShellSession::ShellSession(SessionSpec spec) : spec_(std::move(spec)) {
  validate(spec_);
  set_shell(ShellProcess::start(sandbox_spec(spec_), "", kReadyTimeout));
}

ShellSession::~ShellSession() {
  try {
    close();
  } catch (const std::exception&) {
    // shell_'s destructor still ends the sandbox (see ~SandboxProcess).
  }
}

void ShellSession::close() {
  closing_ = true;
  {
    // A running exec sees its shell die and returns; then we can take the lock.
    const std::lock_guard lock(shell_mutex_);
    if (shell_) shell_->kill_tree();
  }
  const std::lock_guard exec_lock(exec_mutex_);
  std::unique_ptr<ShellProcess> shell;
  {
    const std::lock_guard lock(shell_mutex_);
    shell = std::move(shell_);
  }
  if (shell) shell->terminate();
  alive_ = false;
}

pid_t ShellSession::shell_pid() const {
  const std::lock_guard lock(shell_mutex_);
  return shell_ ? shell_->shell_pid() : -1;
}

std::vector<std::string> ShellSession::cgroup_paths() const {
  const std::lock_guard lock(shell_mutex_);
  return shell_ ? shell_->cgroup_paths() : std::vector<std::string>{};
}

void ShellSession::set_shell(std::unique_ptr<ShellProcess> shell) {
  const std::lock_guard lock(shell_mutex_);
  if (closing_) return;  // close() raced us; the new shell dies with `shell`
  shell_ = std::move(shell);
  alive_ = true;
}

ExecResult ShellSession::exec(const std::string& command, std::chrono::milliseconds timeout,
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

ExecResult ShellSession::run(const std::string& command, std::chrono::milliseconds timeout,
                             const OutputCallback& on_output, int cancel_fd) {
  const auto started = steady_clock::now();
  const CommandId id{.seq = next_seq_++, .nonce = new_command_nonce()};
  ExecResult result;
  Outcome outcome;
  // The session's cgroup outlives its commands: this command's share is the difference.
  const LimitHits hits_before = shell_->limit_hits();
  LimitHits hits_after;
  {
    IoPump pump(shell_->dup_stdout(), shell_->dup_stderr(), shell_->dup_command(),
                frame_command(id.seq, id.nonce, command), spec_.output_limit, on_output);
    Deadline deadline;
    if (timeout.count() > 0) deadline = started + timeout;
    outcome = await_completion(pump, id, deadline, result.exit_code, cancel_fd);
    if (outcome == Outcome::kNoAnswer || outcome == Outcome::kCancelled) {
      result.timed_out = outcome == Outcome::kNoAnswer;
      result.cancelled = outcome == Outcome::kCancelled;
      outcome = abort_command(pump, id, result.exit_code);
    }
    if (outcome != Outcome::kDone) {
      // Gone or stuck: end the whole sandbox. Every writer is dead after that, so the
      // pipes reach EOF and drain() returns with the last of the output.
      std::unique_ptr<ShellProcess> ended;
      {
        const std::lock_guard lock(shell_mutex_);
        ended = std::move(shell_);
      }
      const int status = ended->terminate();
      if (outcome == Outcome::kShellExited) result.exit_code = status;
      hits_after = ended->limit_hits();
      pump.drain();
    } else {
      hits_after = shell_->limit_hits();
    }
    pump.collect(result);
  }
  const LimitHits hits = hits_after.since(hits_before);
  result.oom_killed = hits.oom_kills > 0;
  result.pids_limit_reached = hits.pids_refused > 0;
  if (result.timed_out || result.cancelled) result.exit_code = kTimeoutExitCode;
  if (outcome == Outcome::kShellExited) alive_ = false;
  if (outcome == Outcome::kNoAnswer) replace_shell(result, on_output);
  result.duration = steady_clock::now() - started;
  return result;
}

ShellSession::Outcome ShellSession::await_completion(IoPump& pump, const CommandId& id,
                                                     Deadline deadline, int& exit_code,
                                                     int cancel_fd) {
  SessionChannel& channel = shell_->channel();
  for (;;) {
    const std::array watched = {channel.closed() ? -1 : channel.status_fd(), shell_->pidfd(),
                                cancel_fd};
    const auto ready = pump.pump_until_readable(watched, deadline);
    if (!ready) return Outcome::kNoAnswer;
    if (*ready == 1) return Outcome::kShellExited;
    if (*ready == 2) return Outcome::kCancelled;
    while (const std::optional<StatusMessage> message = channel.receive()) {
      // Only the shell is heard at all (SessionChannel::trust_only); the nonce also
      // keeps a stale report of an abandoned command from completing this one.
      if (message->kind != StatusMessage::Kind::kDone || message->seq != id.seq ||
          message->nonce != id.nonce)
        continue;
      exit_code = message->exit_code;
      last_cwd_ = message->cwd;
      // The shell reports only after the command's writes returned: they are all in
      // the pipes now.
      pump.drain_available();
      return Outcome::kDone;
    }
  }
}

ShellSession::Outcome ShellSession::abort_command(IoPump& pump, const CommandId& id,
                                                  int& exit_code) {
  for (int round = 0; round < kAbortRounds; ++round) {
    // Interrupt first: the trap is then pending when the foreground job dies.
    shell_->interrupt_command();
    shell_->kill_commands();
    const Outcome outcome =
        await_completion(pump, id, steady_clock::now() + kAbortRound, exit_code);
    if (outcome != Outcome::kNoAnswer) return outcome;
  }
  return Outcome::kNoAnswer;
}

void ShellSession::replace_shell(ExecResult& result, const OutputCallback& on_output) {
  alive_ = false;  // until the new shell is in place
  std::string notice =
      "agentfense: the shell did not return after the timeout and was replaced by a new "
      "shell in a new sandbox";
  try {
    std::unique_ptr<ShellProcess> shell =
        ShellProcess::start(sandbox_spec(spec_), last_cwd_, kReadyTimeout);
    notice += last_cwd_.empty() ? "" : " in " + last_cwd_;
    notice += "; shell variables, functions, background jobs and /tmp were reset\n";
    notice += shell->startup_stderr();
    set_shell(std::move(shell));
  } catch (const std::exception& e) {
    notice += std::string(", which failed to start (") + e.what() + "); the session is closed\n";
  }
  result.stderr_data += notice;
  if (on_output) on_output(Stream::kStderr, notice);
}

}  // namespace agentfense::runtime
