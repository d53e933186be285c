#include "runtime/session_driver.h"

#include <poll.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <exception>

#include "common/errors.h"

namespace agentfense::runtime {
namespace {

using std::chrono::steady_clock;

// How long a shell may take to start, and to take a command or its setup.
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
  // An error here (EINTR, ENOMEM) reads as "not yet": the loop watches the fd anyway.
  return ::poll(&probe, 1, 0) == 1 && (probe.revents & POLLIN);
}

}  // namespace

SessionDriver::SessionDriver(SessionDriverOptions options, StartShell start)
    : options_(std::move(options)), start_(std::move(start)) {
  set_shell(start_(""));
  const std::lock_guard lock(exec_mutex_);
  set_up();
  if (!alive_) throw SystemError("session shell exited while applying its environment", ECHILD);
}

SessionDriver::~SessionDriver() {
  try {
    close();
  } catch (const std::exception&) {
    // shell_'s destructor still ends the shell and what it started.
  }
}

void SessionDriver::set_up() {
  // The caller's variables reach the commands, not the driver loop; nobody sees this
  // command's output or status, and a shell it ends closes the session.
  if (!options_.env_command.empty()) (void)run(options_.env_command, kReadyTimeout, {}, -1);
}

void SessionDriver::close() {
  closing_ = true;
  {
    // A running exec sees its shell die and returns; then we can take the lock.
    const std::lock_guard lock(shell_mutex_);
    if (shell_) shell_->kill_all();
  }
  const std::lock_guard exec_lock(exec_mutex_);
  std::unique_ptr<SessionShell> shell;
  {
    const std::lock_guard lock(shell_mutex_);
    shell = std::move(shell_);
  }
  if (shell) shell->terminate();
  alive_ = false;
}

pid_t SessionDriver::shell_pid() const {
  const std::lock_guard lock(shell_mutex_);
  return shell_ ? shell_->pid() : -1;
}

std::vector<std::string> SessionDriver::cgroup_paths() const {
  const std::lock_guard lock(shell_mutex_);
  return shell_ ? shell_->cgroup_paths() : std::vector<std::string>{};
}

void SessionDriver::set_shell(std::unique_ptr<SessionShell> shell) {
  const std::lock_guard lock(shell_mutex_);
  if (closing_) return;  // close() raced us; the new shell dies with `shell`
  shell_ = std::move(shell);
  alive_ = true;
}

ExecResult SessionDriver::exec(const std::string& command, std::chrono::milliseconds timeout,
                               const SessionOutput& on_output, int cancel_fd) {
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

ExecResult SessionDriver::run(const std::string& command, std::chrono::milliseconds timeout,
                              const SessionOutput& on_output, int cancel_fd) {
  const auto started = steady_clock::now();
  const CommandId id{.seq = next_seq_++, .nonce = new_command_nonce()};
  ExecResult result;
  SessionShell& shell = *shell_;
  // The shell's counters outlive its commands: this command's share is the difference.
  const LimitHits hits_before = shell.limit_hits();
  std::unique_ptr<SessionShell> ended;  // declared first: `io` may refer to it
  Outcome outcome = Outcome::kNoAnswer;
  bool output_lost = false;
  {
    const std::unique_ptr<SessionCommand> io =
        shell.begin(id, command, options_.output_limit, on_output);
    SessionDeadline deadline;
    if (timeout.count() > 0) deadline = started + timeout;
    // A shell that does not even take its command is stuck (kNoAnswer).
    if (io->send(deadline.value_or(started + kReadyTimeout)))
      outcome = await_completion(*io, id, deadline, result.exit_code, cancel_fd);
    if (outcome == Outcome::kNoAnswer || outcome == Outcome::kCancelled) {
      result.timed_out = outcome == Outcome::kNoAnswer;
      result.cancelled = outcome == Outcome::kCancelled;
      outcome = abort_command(*io, id, result.exit_code);
    }
    if (outcome != Outcome::kDone) {
      // Gone or stuck: end it and everything it started. Every writer is dead after
      // that, so the output reaches its end with the last of what the command wrote.
      {
        const std::lock_guard lock(shell_mutex_);
        ended = std::move(shell_);
      }
      ended->terminate();
      io->drain_ended();
      if (outcome == Outcome::kShellExited) result.exit_code = ended->exit_status();
    } else if (!io->finish()) {
      // The shell reported, but not all of the output arrived (dockerd stalled): the
      // rest, its fence included, would open the next command's result. This shell's
      // streams cannot be trusted to line up again; end it and say the output is short.
      output_lost = true;
      {
        const std::lock_guard lock(shell_mutex_);
        ended = std::move(shell_);
      }
      ended->terminate();
      io->drain_ended();
    }
    io->collect(result);
  }
  if (output_lost) result.stdout_truncated = result.stderr_truncated = true;
  if (result.timed_out || result.cancelled) result.exit_code = kTimeoutExitCode;
  const LimitHits hits = shell.limit_hits().since(hits_before);
  result.oom_killed = hits.oom_kills > 0 &&
                      (!options_.oom_only_when_killed || result.exit_code == kTimeoutExitCode);
  result.pids_limit_reached = hits.pids_refused > 0;
  ended.reset();
  if (outcome == Outcome::kShellExited) alive_ = false;
  if (outcome == Outcome::kNoAnswer)
    replace_shell(result, on_output, "did not return after the timeout");
  if (output_lost) replace_shell(result, on_output, "reported, but its output did not all arrive,");
  result.duration = steady_clock::now() - started;
  return result;
}

SessionDriver::Outcome SessionDriver::await_completion(SessionCommand& io, const CommandId& id,
                                                       SessionDeadline deadline, int& exit_code,
                                                       int cancel_fd) {
  SessionShell& shell = *shell_;
  for (;;) {
    const std::array watched = {shell.status_fd(), shell.pidfd(), cancel_fd};
    const auto ready = io.pump_until_readable(watched, deadline);
    if (!ready) return Outcome::kNoAnswer;
    if (*ready == 1) return Outcome::kShellExited;
    if (*ready == 2) return Outcome::kCancelled;
    while (const std::optional<StatusMessage> message = shell.receive()) {
      // Only the shell is heard at all (see the transports); the nonce also keeps a
      // stale report of an abandoned command from completing this one.
      if (!message->completes(id)) continue;
      exit_code = message->exit_code;
      last_cwd_ = message->cwd;
      return Outcome::kDone;
    }
  }
}

SessionDriver::Outcome SessionDriver::abort_command(SessionCommand& io, const CommandId& id,
                                                    int& exit_code) {
  for (int round = 0; round < kAbortRounds; ++round) {
    // Interrupt first: the trap is then pending when the foreground job dies.
    shell_->interrupt_command();
    shell_->kill_commands();
    const Outcome outcome = await_completion(io, id, steady_clock::now() + kAbortRound, exit_code);
    if (outcome != Outcome::kNoAnswer) return outcome;
  }
  return Outcome::kNoAnswer;
}

void SessionDriver::replace_shell(ExecResult& result, const SessionOutput& on_output,
                                  const std::string& why) {
  alive_ = false;  // until the new shell is in place
  std::string notice =
      "agentfense: the shell " + why + " and was replaced by " + options_.replacement;
  try {
    std::unique_ptr<SessionShell> shell = start_(last_cwd_);
    notice += last_cwd_.empty() ? "" : " in " + last_cwd_;
    notice += "; " + options_.reset_what + " were reset\n";
    notice += shell->startup_stderr();
    set_shell(std::move(shell));
    if (alive_) set_up();
  } catch (const std::exception& e) {
    notice += std::string(", which failed to start (") + e.what() + "); the session is closed\n";
  }
  if (on_output)  // the output went there, not into the result (ExecSpec::on_output)
    on_output(Stream::kStderr, notice);
  else
    result.stderr_data += notice;
}

}  // namespace agentfense::runtime
