#include "runtime/shell_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <thread>

#include "common/errors.h"
#include "runtime/execute_only_shell.h"
#include "runtime/io_pump.h"

namespace agentfense::runtime {
namespace {

constexpr std::size_t kStartupOutputLimit = 64 << 10;
constexpr int kMaxKillRounds = 500;  // x 2 ms: forks racing the kill are caught in time
constexpr auto kKillRoundPause = std::chrono::milliseconds(2);
constexpr int kMaxAncestry = 8;  // bash <- bwrap (pid 1 inside) <- bwrap: 3 in practice

UniqueFd dup_fd(int fd) {
  UniqueFd copy(::fcntl(fd, F_DUPFD_CLOEXEC, 3));
  if (!copy) throw SystemError("dup session fd", errno);
  return copy;
}

// Field 4 of /proc/<pid>/stat; the name in field 2 may contain spaces and ')'.
pid_t parent_of(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  const std::string line((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto name_end = line.rfind(')');
  if (name_end == std::string::npos) return -1;
  char state = 0;
  pid_t parent = -1;
  if (std::sscanf(line.c_str() + name_end + 1, " %c %d", &state, &parent) != 2) return -1;
  return parent;
}

}  // namespace

std::unique_ptr<ShellProcess> ShellProcess::start(const ExecSpec& spec,
                                                  const std::string& start_dir,
                                                  std::chrono::milliseconds ready_timeout) {
  session_shell_path(spec.argv.at(0));  // only bash, whatever the caller asked for
  const int shell_exe = execute_only_copy_of_bash();
  SessionChannel channel = SessionChannel::create();
  ExecSpec shell_spec = spec;
  shell_spec.argv =
      session_driver_argv("/proc/self/fd/" + std::to_string(shell_exe), channel.child_command_fd(),
                          channel.child_status_fd(), start_dir, shell_exe);
  shell_spec.stdin_data.reset();  // commands read /dev/null, as in a non-interactive run
  shell_spec.inherit_stdio = false;
  SandboxProcess process = SandboxProcess::start(
      shell_spec, {channel.child_command_fd(), channel.child_status_fd(), shell_exe});
  channel.close_child_ends();  // or we would never see the shell's end close

  std::unique_ptr<ShellProcess> shell(new ShellProcess(std::move(process), std::move(channel)));
  shell->stdout_ = shell->process_.take_stdout();
  shell->stderr_ = shell->process_.take_stderr();
  shell->await_ready(ready_timeout);
  return shell;
}

void ShellProcess::await_ready(std::chrono::milliseconds ready_timeout) {
  IoPump pump(dup_stdout(), dup_stderr(), {}, "", kStartupOutputLimit, {});
  const auto deadline = std::chrono::steady_clock::now() + ready_timeout;
  for (;;) {
    const std::array watched = {channel_.closed() ? -1 : channel_.status_fd(), pidfd()};
    const auto ready = pump.pump_until_readable(watched, deadline);
    if (!ready) throw SystemError("session shell did not become ready", ETIMEDOUT);
    if (*ready == 1) {  // bwrap exited: report why, from its stderr
      const int status = process_.terminate();
      pump.drain();
      throw SystemError("session shell exited with status " + std::to_string(status) +
                            " while starting: " + pump.stream(Stream::kStderr).data,
                        ECHILD);
    }
    const std::optional<StatusMessage> message = channel_.receive();
    if (!message || message->kind != StatusMessage::Kind::kReady) continue;
    pump.drain_available();
    startup_stderr_ = std::move(pump.stream(Stream::kStderr).data);
    // Nothing but bwrap and the shell runs before the first command: this is the
    // shell (checked against bwrap's pid below), and from now on the only writer heard.
    shell_pid_ = message->sender_pid;
    channel_.trust_only(shell_pid_);
    shell_pidfd_.reset(static_cast<int>(::syscall(SYS_pidfd_open, shell_pid_, 0)));
    if (!shell_pidfd_) throw SystemError("pidfd_open session shell", errno);
    break;
  }
  // The shell's ancestors are bwrap's processes: everything else in the cgroup is a
  // command. Recorded now, while nothing else runs, and fixed for the shell's life.
  for (pid_t pid = shell_pid_; pid > 1 && shell_pids_.size() < kMaxAncestry; pid = parent_of(pid)) {
    shell_pids_.push_back(pid);
    if (pid == process_.pid()) break;
  }
  if (shell_pids_.empty() || shell_pids_.back() != process_.pid())
    throw SystemError("session shell pid " + std::to_string(shell_pid_) + " is not bwrap's", ESRCH);
}

UniqueFd ShellProcess::dup_stdout() const {
  return dup_fd(stdout_.get());
}

UniqueFd ShellProcess::dup_stderr() const {
  return dup_fd(stderr_.get());
}

UniqueFd ShellProcess::dup_command() const {
  return dup_fd(channel_.command_fd());
}

std::vector<std::string> ShellProcess::cgroup_paths() const {
  return process_.cgroup() ? process_.cgroup()->paths() : std::vector<std::string>{};
}

void ShellProcess::interrupt_command() const {
  // Fails only once the shell is gone, which the caller learns from bwrap's pidfd.
  (void)::syscall(SYS_pidfd_send_signal, shell_pidfd_.get(), SIGUSR1, nullptr, 0);
}

bool ShellProcess::kill_commands() const {
  const SandboxCgroup* cgroup = process_.cgroup();
  if (!cgroup) return false;
  for (int round = 0; round < kMaxKillRounds; ++round) {
    bool killed_any = false;
    for (const pid_t pid : cgroup->members()) {
      if (std::ranges::find(shell_pids_, pid) != shell_pids_.end()) continue;
      // The network helper belongs to the sandbox, not to a command.
      if (pid == process_.network_helper_pid()) continue;
      (void)::kill(pid, SIGKILL);  // ESRCH: already gone, the expected race
      killed_any = true;
    }
    if (!killed_any) return true;
    std::this_thread::sleep_for(kKillRoundPause);
  }
  return true;
}

}  // namespace agentfense::runtime
