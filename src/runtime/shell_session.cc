#include "runtime/shell_session.h"

#include <memory>

#include "runtime/execute_only_shell.h"
#include "runtime/io_pump.h"
#include "runtime/shell_process.h"

namespace agentfense::runtime {
namespace {

constexpr auto kReadyTimeout = std::chrono::seconds(30);

ExecSpec sandbox_spec(const SessionSpec& spec) {
  ExecSpec exec;
  exec.argv = {spec.shell};
  exec.workspace_fd = spec.workspace_fd;
  exec.workdir = spec.workdir;
  exec.env = spec.env;
  exec.limits = spec.limits;
  exec.cgroup_parent = spec.cgroup_parent;
  exec.network = spec.network;
  exec.host_uid = spec.host_uid;
  exec.host_gid = spec.host_gid;
  return exec;
}

// One command on a sandboxed shell: a pump over dups of its stdio that also writes the
// framed command to the command socket.
class PipeCommand final : public SessionCommand {
 public:
  PipeCommand(ShellProcess& shell, const CommandId& id, const std::string& command,
              std::size_t output_limit, const SessionOutput& on_output)
      : pump_(shell.dup_stdout(), shell.dup_stderr(), shell.dup_command(),
              frame_command(id.seq, id.nonce, command), output_limit, on_output) {}

  // The pump writes the frame as it goes.
  bool send(std::chrono::steady_clock::time_point) override { return true; }
  std::optional<std::size_t> pump_until_readable(std::span<const int> watched,
                                                 SessionDeadline deadline) override {
    return pump_.pump_until_readable(watched, deadline);
  }
  // The shell reports only after the command's writes returned: they are all in the
  // pipes now.
  bool finish() override {
    pump_.drain_available();
    return true;  // the pipes are this command's own: what is not there was not written
  }
  // Every writer is dead: the pipes reach EOF.
  void drain_ended() override { pump_.drain(); }
  void collect(ExecResult& result) override { pump_.collect(result); }

 private:
  IoPump pump_;
};

class SandboxedShell final : public SessionShell {
 public:
  explicit SandboxedShell(std::unique_ptr<ShellProcess> shell) : shell_(std::move(shell)) {}

  std::unique_ptr<SessionCommand> begin(const CommandId& id, const std::string& command,
                                        std::size_t output_limit,
                                        const SessionOutput& on_output) override {
    return std::make_unique<PipeCommand>(*shell_, id, command, output_limit, on_output);
  }
  int status_fd() const override {
    const SessionChannel& channel = shell_->channel();
    return channel.closed() ? -1 : channel.status_fd();
  }
  // Only the shell is heard at all (SessionChannel::trust_only).
  std::optional<StatusMessage> receive() override { return shell_->channel().receive(); }
  int pidfd() const override { return shell_->pidfd(); }
  pid_t pid() const override { return shell_->shell_pid(); }
  std::vector<std::string> cgroup_paths() const override { return shell_->cgroup_paths(); }
  LimitHits limit_hits() const override { return shell_->limit_hits(); }
  std::string startup_stderr() const override { return shell_->startup_stderr(); }
  void interrupt_command() override { shell_->interrupt_command(); }
  void kill_commands() override { (void)shell_->kill_commands(); }
  void kill_all() override { shell_->kill_tree(); }
  void terminate() override { status_ = shell_->terminate(); }
  int exit_status() override { return status_; }

 private:
  std::unique_ptr<ShellProcess> shell_;
  int status_ = -1;
};

SessionDriverOptions driver_options(const SessionSpec& spec) {
  session_shell_path(spec.shell);  // throws UserError for anything but bash
  return {.output_limit = spec.output_limit,
          .env_command = {},  // the sandbox starts the shell with the env
          .oom_only_when_killed = false,
          .replacement = "a new shell in a new sandbox",
          .reset_what = "shell variables, functions, background jobs and /tmp"};
}

}  // namespace

ShellSession::ShellSession(SessionSpec spec)
    : spec_(std::move(spec)), driver_(driver_options(spec_), [this](const std::string& start_dir) {
        return std::make_unique<SandboxedShell>(
            ShellProcess::start(sandbox_spec(spec_), start_dir, kReadyTimeout));
      }) {}

}  // namespace agentfense::runtime
