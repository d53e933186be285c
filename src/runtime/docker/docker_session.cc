#include "runtime/docker/docker_session.h"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <functional>
#include <optional>
#include <vector>

#include "common/errors.h"
#include "runtime/docker/container_scope.h"
#include "runtime/docker/engine_errors.h"
#include "runtime/docker/env_script.h"
#include "runtime/docker/fence_filter.h"
#include "runtime/docker/output_capture.h"
#include "runtime/docker/session_link.h"
#include "runtime/docker/session_scripts.h"
#include "runtime/docker/shell_output.h"
#include "runtime/execute_only_shell.h"

namespace agentfense::runtime::docker {
namespace {

using std::chrono::steady_clock;

constexpr auto kReadyTimeout = std::chrono::seconds(30);
// After its report, how long a command's last output may take to arrive (output that a
// job the command left keeps the socket too full for).
constexpr auto kFenceTimeout = std::chrono::seconds(30);
constexpr auto kEndTimeout = std::chrono::seconds(5);
constexpr int kNoExitCode = 128 + SIGKILL;  // dockerd no longer knows it

// One incarnation of the shell: its exec, its channel, its output connections, and the
// output filters. The exec's stream carries only what the shell writes before it has
// connected (startup errors); both go through the filters; `capture` is the command
// running now.
class ContainerShell final : public SessionShell {
 public:
  ContainerShell(RunningContainer& container, LaunchedExec launched, SessionLink channel)
      : container_(container), exec(std::move(launched)), link(std::move(channel)) {
    exec.stream->set_sink([this](Stream which, std::string_view data) { filter(which, data); });
  }

  // Once the link has accepted the shell's connections.
  void connect_output() {
    output.emplace(link, [this](Stream which, std::string_view data) { filter(which, data); });
  }

  // Moves output until one of `watched` is readable (its index) or the deadline passes.
  std::optional<std::size_t> pump_until_readable(std::span<const int> watched,
                                                 SessionDeadline deadline) {
    for (;;) {
      const auto ready = pump_once(watched, deadline);
      if (!ready) return std::nullopt;
      if (*ready >= kOutputs) return *ready - kOutputs;
      output->read_from(*ready);
    }
  }
  // Moves output until `done()` holds (true), both output sockets end or the deadline
  // passes (false unless done() holds by then).
  bool pump_output_until(const std::function<bool()>& done, SessionDeadline deadline) {
    while (!done() && output && !output->ended()) {
      const auto ready = pump_once({}, deadline);
      if (!ready) break;
      output->read_from(*ready);
    }
    return done();
  }
  void drain_available() {
    exec.stream->drain_available();
    if (output) output->read_available();
  }

  std::unique_ptr<SessionCommand> begin(const CommandId& id, const std::string& command,
                                        std::size_t output_limit,
                                        const SessionOutput& on_output) override;

  int status_fd() const override { return link.closed() ? -1 : link.fd(); }
  // Only the shell holds the channel (session_link.h).
  std::optional<StatusMessage> receive() override { return link.receive(); }
  int pidfd() const override { return exec.pidfd.get(); }
  pid_t pid() const override { return exec.pid; }
  // The container's counters, shared with its other execs.
  LimitHits limit_hits() const override { return container_.exec_target().cgroups.limit_hits(); }
  std::string startup_stderr() const override { return startup_stderr_; }
  void interrupt_command() override {
    // Fails only once the shell is gone, which its pidfd then says.
    (void)::syscall(SYS_pidfd_send_signal, exec.pidfd.get(), SIGUSR1, nullptr, 0);
  }
  void kill_commands() override { exec.cgroup->kill_all_except(exec.pid); }
  // Ends the shell and everything it started; the stream then reaches its end.
  void kill_all() override { exec.cgroup->kill_all(); }
  void terminate() override {
    kill_all();
    const auto deadline = steady_clock::now() + kEndTimeout;
    exec.stream->drain(deadline);
    // Every holder of the sockets is dead: they reach their end.
    (void)pump_output_until([] { return false; }, deadline);
  }
  int exit_status() override {
    return exec_exit_code(container_.engine(), exec.id, steady_clock::now() + kEndTimeout)
        .value_or(kNoExitCode);
  }

  RunningContainer& container_;  // outlives the session's shells
  LaunchedExec exec;
  SessionLink link;
  std::optional<ShellOutput> output;  // once connected
  FenceFilter out, err;
  OutputCapture* capture = nullptr;
  std::string startup_stderr_;

 private:
  static constexpr std::size_t kOutputs = 2;  // the output sockets come first in a poll

  void filter(Stream which, std::string_view data) {
    FenceFilter& filter = which == Stream::kStdout ? out : err;
    filter.feed(data, [this, which](std::string_view kept) {
      if (capture) capture->add(which, kept);
    });
  }
  // One wait: the index of the first ready fd among the output sockets then `watched`.
  std::optional<std::size_t> pump_once(std::span<const int> watched, SessionDeadline deadline) {
    std::vector<int> fds = {-1, -1};
    if (output) fds = {output->fds()[0], output->fds()[1]};
    fds.insert(fds.end(), watched.begin(), watched.end());
    return exec.stream->pump_until_readable(fds, deadline);
  }
};

// One command: its output is what the filters let through up to its fences.
class StreamCommand final : public SessionCommand {
 public:
  StreamCommand(ContainerShell& shell, const CommandId& id, const std::string& command,
                std::size_t output_limit, const SessionOutput& on_output)
      : shell_(shell),
        capture_(output_limit, on_output),
        frame_(frame_command(id.seq, id.nonce, command)) {
    const std::string fence = command_fence(id.seq, id.nonce);
    shell_.out.expect(fence, [this](std::string_view d) { capture_.add(Stream::kStdout, d); });
    shell_.err.expect(fence, [this](std::string_view d) { capture_.add(Stream::kStderr, d); });
    shell_.capture = &capture_;
  }
  ~StreamCommand() override { shell_.capture = nullptr; }

  bool send(steady_clock::time_point deadline) override {
    try {
      shell_.link.send(frame_, deadline);
      return true;
    } catch (const SystemError&) {
      return false;
    }
  }
  std::optional<std::size_t> pump_until_readable(std::span<const int> watched,
                                                 SessionDeadline deadline) override {
    return shell_.pump_until_readable(watched, deadline);
  }
  // The fences were written before the report: once they are through, so is all of the
  // command's output.
  bool finish() override {
    ContainerShell& shell = shell_;
    return shell.pump_output_until([&shell] { return shell.out.seen() && shell.err.seen(); },
                                   steady_clock::now() + kFenceTimeout);
  }
  // Output the fence never closed off is this command's too.
  void drain_ended() override {
    capture_.add(Stream::kStdout, shell_.out.take_held());
    capture_.add(Stream::kStderr, shell_.err.take_held());
    shell_.capture = nullptr;
  }
  void collect(ExecResult& result) override { capture_.collect(result); }

 private:
  ContainerShell& shell_;
  OutputCapture capture_;
  const std::string frame_;
};

std::unique_ptr<SessionCommand> ContainerShell::begin(const CommandId& id,
                                                      const std::string& command,
                                                      std::size_t output_limit,
                                                      const SessionOutput& on_output) {
  return std::make_unique<StreamCommand>(*this, id, command, output_limit, on_output);
}

SessionDriverOptions driver_options(const SessionSpec& spec) {
  session_shell_path(spec.shell);  // bash only, as under bwrap
  // Validates the names before anything starts. The exec does not start the shell with
  // the caller's variables: they reach the commands, not the driver loop (SHELLOPTS and
  // friends are read-only in bash; refusing them is bash's answer).
  return {.output_limit = spec.output_limit,
          .env_command = export_script(spec.env),
          .oom_only_when_killed = true,
          .replacement = "a new shell",
          .reset_what = "shell variables, functions and background jobs"};
}

}  // namespace

DockerSession::DockerSession(std::shared_ptr<RunningContainer> container, SessionSpec spec)
    : container_(std::move(container)),
      spec_(std::move(spec)),
      driver_(driver_options(spec_),
              [this](const std::string& start_dir) { return start_shell(start_dir); }) {}

std::unique_ptr<SessionShell> DockerSession::start_shell(const std::string& start_dir) {
  const ContainerBash bash = container_->session_bash();
  SessionLink link = SessionLink::listen(container_->init());
  const auto deadline = steady_clock::now() + kReadyTimeout;
  Launch launch = launch_exec(
      container_->exec_target(),
      scoped(container_->exec_target().scope,
             session_argv(bash.copy, bash.source, start_dir.empty() ? spec_.workdir : start_dir)),
      "session", deadline);
  if (!launch.exec)
    throw SystemError("session shell failed to start: " + launch.failure.message, ECHILD);
  auto shell =
      std::make_unique<ContainerShell>(*container_, std::move(*launch.exec), std::move(link));
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
    throw SystemError(std::string(error.what()) + ": " + shell->err.take_held(), error.code());
  }
  shell->connect_output();
  // The report may have come with the token already.
  for (std::optional<StatusMessage> message = shell->link.receive();
       !message || message->kind != StatusMessage::Kind::kReady; message = shell->link.receive()) {
    const std::array watched = {shell->link.fd(), shell->exec.pidfd.get()};
    const auto ready = shell->link.closed() ? std::optional<std::size_t>(1)
                                            : shell->pump_until_readable(watched, deadline);
    if (!ready) throw SystemError("session shell did not become ready", ETIMEDOUT);
    if (*ready == 1) {
      shell->terminate();
      throw SystemError("session shell exited while starting: " + shell->err.take_held(), ECHILD);
    }
  }
  shell->drain_available();
  shell->startup_stderr_ = shell->err.take_held();
  (void)shell->out.take_held();
  return shell;
}

}  // namespace agentfense::runtime::docker
