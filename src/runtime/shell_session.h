// A persistent shell session (DESIGN.md "Runtimes" -> Sessions): one bash inside one
// long-lived sandbox, running command after command in the same shell process, so the
// cwd, exported and unexported variables and functions carry over. Each exec reports
// the exact exit code with stdout and stderr kept apart; completion is signalled on a
// private status channel (session_channel.h), never by markers in the output.
//
// Timeouts kill the command, not the session: the shell is told to abandon the command
// (the rest of the command list is skipped, builtin loops included) and every process
// of the sandbox except the shell and bwrap's is SIGKILLed (background jobs too). A
// shell that does not come back even then is replaced by a fresh shell in a new sandbox
// started in the last known cwd, which the result's stderr says.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/exec.h"

namespace agentfense::runtime {

class ShellProcess;
class IoPump;

struct SessionSpec {
  std::string shell = "/bin/bash";         // bash, /bin/bash or /usr/bin/bash: the driver
                                           // loop needs bash (execute_only_shell.h)
  std::map<std::string, std::string> env;  // on top of the clean base env
  int workspace_fd = -1;                   // O_PATH fd of the mountpoint; -1 = none
  std::string workdir = "/workspace";      // where the shell starts
  Limits limits;                           // for the whole session
  std::size_t output_limit = 16 << 20;     // per stream and command
  bool network = false;
  uid_t host_uid = 0;  // as in ExecSpec: 0 = default_sandbox_ids()
  gid_t host_gid = 0;
};

class ShellSession {
 public:
  using OutputCallback = std::function<void(Stream, std::string_view)>;

  // Starts the shell; throws UserError for a bad spec, SystemError when the sandbox or
  // the shell cannot start.
  explicit ShellSession(SessionSpec spec);
  ShellSession(const ShellSession&) = delete;
  ShellSession& operator=(const ShellSession&) = delete;
  ~ShellSession();

  // Runs `command` (any bash text: several lines, heredocs, comments) in the shell.
  // timeout 0 = none. `on_output` gets every captured chunk as it arrives; all output
  // written before the command finished is delivered before exec returns. Concurrent
  // calls run one after the other. A command that ends the shell (`exit 3`) returns its
  // status and closes the session. Throws UserError("session closed") once closed.
  // `cancel_fd` (optional, as ExecSpec::cancel_fd): once readable, the command is
  // abandoned like on a timeout (the session lives on) and the result says cancelled;
  // a command whose cancel_fd is readable before it starts never runs.
  ExecResult exec(const std::string& command, std::chrono::milliseconds timeout,
                  const OutputCallback& on_output = {}, int cancel_fd = -1);

  bool alive() const { return alive_; }
  // Kills every process the session started and reaps them. Aborts a running exec
  // (it returns with the shell's death), then waits for it. Idempotent.
  void close();

  // For diagnostics and tests: the host pid of the current shell and the cgroup
  // directories holding the session (both empty/-1 once closed).
  pid_t shell_pid() const;
  std::vector<std::string> cgroup_paths() const;

 private:
  enum class Outcome { kDone, kShellExited, kNoAnswer, kCancelled };
  using Deadline = std::optional<std::chrono::steady_clock::time_point>;
  struct CommandId {
    uint64_t seq = 0;
    uint64_t nonce = 0;  // random per command; its report must echo it
  };

  Outcome await_completion(IoPump& pump, const CommandId& id, Deadline deadline, int& exit_code,
                           int cancel_fd = -1);
  Outcome abort_command(IoPump& pump, const CommandId& id, int& exit_code);
  ExecResult run(const std::string& command, std::chrono::milliseconds timeout,
                 const OutputCallback& on_output, int cancel_fd);
  void replace_shell(ExecResult& result, const OutputCallback& on_output);
  void set_shell(std::unique_ptr<ShellProcess> shell);

  const SessionSpec spec_;
  std::mutex exec_mutex_;           // serializes exec/close
  mutable std::mutex shell_mutex_;  // guards shell_ against close() from another thread
  std::unique_ptr<ShellProcess> shell_;
  std::atomic<bool> alive_{false};
  std::atomic<bool> closing_{false};
  uint64_t next_seq_ = 1;
  std::string last_cwd_;
};

}  // namespace agentfense::runtime
