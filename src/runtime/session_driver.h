// What every runtime's persistent shell session shares (ShellSession's contract,
// shell_session.h): commands one at a time with a fresh seq and nonce, completion only
// by the shell's own report, a timeout or cancel that abandons the command (interrupt
// the shell, kill the command's processes, for a few rounds), the end of a shell that
// exits or does not come back, and its replacement in the last cwd.
//
// A runtime supplies only how it reaches one shell (SessionShell) and carries one
// command's I/O (SessionCommand): bwrap through a sandboxed shell's pipes and socket
// pair (shell_session.cc), docker through an exec's attached stream and a TCP channel
// (docker/docker_session.cc).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/cgroup_counters.h"
#include "runtime/exec.h"
#include "runtime/session_protocol.h"

namespace agentfense::runtime {

using SessionDeadline = std::optional<std::chrono::steady_clock::time_point>;
using SessionOutput = std::function<void(Stream, std::string_view)>;

// One command's I/O on the current shell.
class SessionCommand {
 public:
  virtual ~SessionCommand() = default;
  // Hands the framed command to the shell; false when it does not take it by `deadline`.
  virtual bool send(std::chrono::steady_clock::time_point deadline) = 0;
  // Moves output until one of `watched` is readable (its index) or the deadline passes.
  virtual std::optional<std::size_t> pump_until_readable(std::span<const int> watched,
                                                         SessionDeadline deadline) = 0;
  // The shell has reported: takes the rest of what the command wrote. False when it did
  // not all arrive in time (the rest would land in the next command's output).
  virtual bool finish() = 0;
  // The shell has been terminated: takes the last of its output.
  virtual void drain_ended() = 0;
  virtual void collect(ExecResult& result) = 0;
};

// One incarnation of a session's shell.
class SessionShell {
 public:
  virtual ~SessionShell() = default;
  virtual std::unique_ptr<SessionCommand> begin(const CommandId& id, const std::string& command,
                                                std::size_t output_limit,
                                                const SessionOutput& on_output) = 0;
  // The report channel: its fd (-1 once the shell's side closed) and its next message.
  virtual int status_fd() const = 0;
  virtual std::optional<StatusMessage> receive() = 0;
  // Readable once the shell has exited.
  virtual int pidfd() const = 0;
  virtual pid_t pid() const = 0;
  virtual std::vector<std::string> cgroup_paths() const { return {}; }
  // What the memory and pids limits did so far; the driver counts the difference.
  virtual LimitHits limit_hits() const = 0;
  // What the shell wrote to stderr while starting.
  virtual std::string startup_stderr() const = 0;
  // Asks the shell to abandon the running command (SIGUSR1 to the driver loop).
  virtual void interrupt_command() = 0;
  // Kills the command's processes; the shell then sees its foreground job die.
  virtual void kill_commands() = 0;
  // Ends the shell and all it started without waiting (a running exec then returns).
  virtual void kill_all() = 0;
  // Ends the shell and all it started and waits for it.
  virtual void terminate() = 0;
  // After terminate(): the shell's exit status.
  virtual int exit_status() = 0;
};

struct SessionDriverOptions {
  std::size_t output_limit = 16 << 20;
  // Run silently after every start: exports the caller's env where the shell does not
  // start with it; empty = none.
  std::string env_command;
  // Whether an OOM kill counts only for a command that was killed (the limits' counters
  // are shared with other execs) or whenever the shell's counters moved.
  bool oom_only_when_killed = false;
  // What the notice of a replaced shell says replaced it, and what was reset with it.
  std::string replacement = "a new shell";
  std::string reset_what = "shell variables, functions and background jobs";
};

class SessionDriver {
 public:
  // Starts a shell in `start_dir` (empty: where a session starts); throws on failure.
  using StartShell = std::function<std::unique_ptr<SessionShell>(const std::string& start_dir)>;

  // Starts the first shell (and runs the setup command). Throws what `start` throws.
  SessionDriver(SessionDriverOptions options, StartShell start);
  SessionDriver(const SessionDriver&) = delete;
  SessionDriver& operator=(const SessionDriver&) = delete;
  ~SessionDriver();

  ExecResult exec(const std::string& command, std::chrono::milliseconds timeout,
                  const SessionOutput& on_output, int cancel_fd);
  bool alive() const { return alive_; }
  void close();
  pid_t shell_pid() const;
  std::vector<std::string> cgroup_paths() const;

 private:
  enum class Outcome { kDone, kShellExited, kNoAnswer, kCancelled };

  Outcome await_completion(SessionCommand& io, const CommandId& id, SessionDeadline deadline,
                           int& exit_code, int cancel_fd = -1);
  Outcome abort_command(SessionCommand& io, const CommandId& id, int& exit_code);
  ExecResult run(const std::string& command, std::chrono::milliseconds timeout,
                 const SessionOutput& on_output, int cancel_fd);
  void set_up();  // runs env_command, with exec_mutex_ held
  // `why` completes "the shell ... and was replaced".
  void replace_shell(ExecResult& result, const SessionOutput& on_output, const std::string& why);
  void set_shell(std::unique_ptr<SessionShell> shell);

  const SessionDriverOptions options_;
  const StartShell start_;
  std::mutex exec_mutex_;           // serializes exec/close
  mutable std::mutex shell_mutex_;  // guards shell_ against close() from another thread
  std::unique_ptr<SessionShell> shell_;
  std::atomic<bool> alive_{false};
  std::atomic<bool> closing_{false};
  uint64_t next_seq_ = 1;
  std::string last_cwd_;
};

}  // namespace agentfense::runtime
