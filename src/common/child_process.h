// A forked child process owned RAII-style: whoever holds the ChildProcess is
// responsible for it, and dropping it (e.g. on an exception) SIGKILLs and reaps it, so
// no error path leaves a sandbox running or a zombie behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>

#include "common/unique_fd.h"

namespace agentfense {

// What went wrong in the forked child before exec. `step` must point to a string
// literal: the child is a copy of our address space, so the parent can print it.
struct ChildFailure {
  const char* step = nullptr;
  int error = 0;
};

// True when the process behind `pidfd` has exited by `deadline` (it is not reaped here).
bool exits_by(int pidfd, std::chrono::steady_clock::time_point deadline);

class ChildProcess {
 public:
  // Forks and runs `body` in the child. The body may only make async-signal-safe
  // calls (the parent may have other threads holding locks); it either execs or
  // returns the failed step. Returns once the child has exec'd; throws SystemError
  // naming the child's failed step otherwise.
  static ChildProcess spawn(const std::function<ChildFailure()>& body);

  // As spawn(), but the child shares our memory until it execs (vfork: the calling
  // thread waits meanwhile), so a parent with a large address space pays no copy of
  // its page tables, nor their teardown at exec: about 3 ms less for the server. The
  // contract for `body` is stricter: plain system calls only - no allocation, no
  // locks, no write to anything but its own locals, and no glibc wrapper that acts on
  // the whole process (setuid and friends would change the parent's threads). Every
  // caught signal is reset to its default in the child before `body` runs (a handler
  // would run on the parent's memory), with the caller's signal mask.
  static ChildProcess spawn_vfork(const std::function<ChildFailure()>& body);

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&&) = delete;
  ChildProcess(const ChildProcess&) = delete;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  // Readable once the child has exited (for poll()).
  int pidfd() const { return pidfd_.get(); }

  void kill() const;  // SIGKILL; a no-op once reaped
  // Not yet exited (never blocks); false once reaped.
  bool running() const;
  // Reaps the child: its exit status, or 128+N when killed by signal N.
  int wait();

 private:
  ChildProcess(pid_t pid, UniqueFd pidfd) : pid_(pid), pidfd_(std::move(pidfd)) {}
  // The parent's side of both spawns: owns `pid` at once, then waits for its exec.
  static ChildProcess adopt(pid_t pid, UniqueFd status_read, UniqueFd status_write);

  pid_t pid_ = -1;  // -1 once reaped
  UniqueFd pidfd_;
};

}  // namespace agentfense
