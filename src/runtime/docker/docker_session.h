// A persistent shell session in a sandbox's container, with ShellSession's contract
// (shell_session.h): cwd, variables and functions persist; exact exit codes; stdout and
// stderr apart; a timeout or cancel abandons the command, kills its processes (and only
// its: the shell and the sandbox's other commands live on), and a shell that does not
// come back is replaced by a fresh one in the last cwd.
//
// The shell is one exec of the image's bash (session_scripts.h) in a tracking cgroup of
// its own (exec_launch.h); commands and reports travel on its private channel
// (session_link.h), output on the exec's stream, cut per command by fences
// (fence_filter.h). Nothing a command starts can report a result (docs/security.md).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "runtime/boundary.h"
#include "runtime/docker/running_container.h"

namespace agentfense::runtime::docker {

class DockerSession final : public CommandSession {
 public:
  // Starts the shell (spec: shell, env, workdir, output_limit; the rest is the
  // container's). Throws UserError for a bad spec or an image without bash, SystemError
  // when the shell cannot start.
  DockerSession(std::shared_ptr<RunningContainer> container, SessionSpec spec);
  ~DockerSession() override;

  ExecResult exec(const std::string& command, std::chrono::milliseconds timeout,
                  const OutputCallback& on_output = {}, int cancel_fd = -1) override;
  bool alive() const override { return alive_; }
  void close() override;

  // For tests: the host pid of the current shell (-1 once closed).
  pid_t shell_pid() const;

 private:
  struct Shell;
  enum class Outcome { kDone, kShellExited, kNoAnswer, kCancelled };
  struct CommandId {
    std::uint64_t seq = 0;
    std::uint64_t nonce = 0;
  };
  using Deadline = std::optional<std::chrono::steady_clock::time_point>;

  std::unique_ptr<Shell> start_shell(const std::string& start_dir);
  ExecResult run(const std::string& command, std::chrono::milliseconds timeout,
                 const OutputCallback& on_output, int cancel_fd);
  Outcome await_completion(const CommandId& id, Deadline deadline, int& exit_code,
                           int cancel_fd = -1);
  Outcome abort_command(const CommandId& id, int& exit_code);
  void replace_shell(ExecResult& result, const OutputCallback& on_output);
  void apply_env();  // with exec_mutex_ held
  void set_shell(std::unique_ptr<Shell> shell);

  std::shared_ptr<RunningContainer> container_;
  const SessionSpec spec_;
  std::mutex exec_mutex_;           // serializes exec/close
  mutable std::mutex shell_mutex_;  // guards shell_ against close() from another thread
  std::unique_ptr<Shell> shell_;
  std::atomic<bool> alive_{false};
  std::atomic<bool> closing_{false};
  std::uint64_t next_seq_ = 1;
  std::string last_cwd_;
};

}  // namespace agentfense::runtime::docker
