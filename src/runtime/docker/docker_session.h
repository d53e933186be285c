// A persistent shell session in a sandbox's container, with ShellSession's contract
// (shell_session.h): cwd, variables and functions persist; exact exit codes; stdout and
// stderr apart; a timeout or cancel abandons the command, kills its processes (and only
// its: the shell and the sandbox's other commands live on), and a shell that does not
// come back is replaced by a fresh one in the last cwd.
//
// The shell is one exec of the image's bash (session_scripts.h) in a tracking cgroup of
// its own (exec_launch.h); commands and reports travel on its private channel
// (session_link.h), output on two connections of its own (shell_output.h), cut per
// command by fences (fence_filter.h). Nothing a command starts can report a result
// (docs/security.md). The run/abort/replace loop is every runtime's (session_driver.h); this file
// is how it reaches a shell in a container.
#pragma once

#include <memory>
#include <string>

#include "runtime/boundary.h"
#include "runtime/docker/running_container.h"
#include "runtime/session_driver.h"

namespace agentfense::runtime::docker {

class DockerSession final : public CommandSession {
 public:
  // Starts the shell (spec: shell, env, workdir, output_limit; the rest is the
  // container's). Throws UserError for a bad spec or an image without bash, SystemError
  // when the shell cannot start.
  DockerSession(std::shared_ptr<RunningContainer> container, SessionSpec spec);

  ExecResult exec(const std::string& command, std::chrono::milliseconds timeout,
                  const OutputCallback& on_output = {}, int cancel_fd = -1) override {
    return driver_.exec(command, timeout, on_output, cancel_fd);
  }
  bool alive() const override { return driver_.alive(); }
  void close() override { driver_.close(); }

  // For tests: the host pid of the current shell (-1 once closed).
  pid_t shell_pid() const { return driver_.shell_pid(); }

 private:
  std::unique_ptr<SessionShell> start_shell(const std::string& start_dir);

  std::shared_ptr<RunningContainer> container_;
  const SessionSpec spec_;
  SessionDriver driver_;  // last: its shells need the container and the spec
};

}  // namespace agentfense::runtime::docker
