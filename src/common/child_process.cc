#include "common/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <memory>
#include <string>
#include <utility>

#include "common/errors.h"

namespace agentfense {
namespace {

constexpr int kChildSetupFailedExit = 127;

// Blocks until the child execs (the close-on-exec pipe closes: EOF) or reports a
// failure. Returns true when a failure was read into `failure`.
bool read_child_failure(int fd, ChildFailure& failure) {
  for (;;) {
    const ssize_t got = ::read(fd, &failure, sizeof failure);
    if (got < 0 && errno == EINTR) continue;
    check_syscall(got, "read child status pipe");
    return got == static_cast<ssize_t>(sizeof failure);
  }
}

void write_failure_and_exit(int fd, const ChildFailure& failure) {
  // Nobody to tell if this write fails; the exit status still says "setup failed".
  (void)!::write(fd, &failure, sizeof failure);
  ::_exit(kChildSetupFailedExit);
}

// A vfork child's start: resets what would run on the parent's memory, then `body`.
struct VforkStart {
  const std::function<ChildFailure()>* body;
  int status_fd;
  sigset_t mask;  // the caller's, restored once no handler is left
};

// Room for `body` and the libc calls it makes before exec.
constexpr std::size_t kVforkStackBytes = 256 * 1024;

int vfork_child(void* arg) {
  const auto* start = static_cast<const VforkStart*>(arg);
  struct sigaction fallback {};
  fallback.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    struct sigaction current {};
    // SIGKILL, SIGSTOP and libc's internal signals refuse: nothing to reset there.
    if (::sigaction(sig, nullptr, &current) == 0 && current.sa_handler != SIG_DFL &&
        current.sa_handler != SIG_IGN)
      (void)::sigaction(sig, &fallback, nullptr);
  }
  (void)::sigprocmask(SIG_SETMASK, &start->mask, nullptr);
  write_failure_and_exit(start->status_fd, (*start->body)());
  return kChildSetupFailedExit;  // not reached
}

}  // namespace

ChildProcess ChildProcess::spawn(const std::function<ChildFailure()>& body) {
  int status_pipe[2];
  check_syscall(::pipe2(status_pipe, O_CLOEXEC), "pipe2");
  UniqueFd status_read(status_pipe[0]);
  UniqueFd status_write(status_pipe[1]);

  const pid_t pid = check_syscall(::fork(), "fork");
  if (pid == 0) {
    status_read.reset();
    write_failure_and_exit(status_write.get(), body());
  }
  return adopt(pid, std::move(status_read), std::move(status_write));
}

ChildProcess ChildProcess::spawn_vfork(const std::function<ChildFailure()>& body) {
  int status_pipe[2];
  check_syscall(::pipe2(status_pipe, O_CLOEXEC), "pipe2");
  UniqueFd status_read(status_pipe[0]);
  UniqueFd status_write(status_pipe[1]);
  // Until the child has reset the handlers, no signal may run one in it.
  sigset_t all;
  sigfillset(&all);
  VforkStart start{.body = &body, .status_fd = status_write.get(), .mask = {}};
  pthread_sigmask(SIG_SETMASK, &all, &start.mask);
  // The child's stack (it must not use ours); left unzeroed, it is only written.
  const auto stack = std::make_unique_for_overwrite<char[]>(kVforkStackBytes);
  const pid_t pid = ::clone(vfork_child, stack.get() + kVforkStackBytes,
                            CLONE_VM | CLONE_VFORK | SIGCHLD, &start);
  const int clone_error = errno;
  pthread_sigmask(SIG_SETMASK, &start.mask, nullptr);
  if (pid < 0) throw SystemError("clone", clone_error);
  // The child has exec'd or exited by now; its failure, if any, is in the pipe.
  return adopt(pid, std::move(status_read), std::move(status_write));
}

ChildProcess ChildProcess::adopt(pid_t pid, UniqueFd status_read, UniqueFd status_write) {
  // From here the child is ours; constructing the owner first means any throw below
  // still kills and reaps it.
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  const int pidfd_error = errno;
  ChildProcess child(pid, std::move(pidfd));
  status_write.reset();
  if (!child.pidfd_) throw SystemError("pidfd_open", pidfd_error);

  ChildFailure failure;
  if (read_child_failure(status_read.get(), failure)) {
    child.wait();
    throw SystemError(std::string("sandbox child: ") + failure.step, failure.error);
  }
  return child;
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), pidfd_(std::move(other.pidfd_)) {}

ChildProcess::~ChildProcess() {
  if (pid_ < 0) return;
  kill();
  wait();
}

void ChildProcess::kill() const {
  if (pid_ < 0) return;
  // Until we reap it the pid cannot be recycled, so both calls hit our child; failure
  // means it has already exited.
  if (pidfd_) {
    (void)::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
  } else {
    (void)::kill(pid_, SIGKILL);
  }
}

bool exits_by(int pidfd, std::chrono::steady_clock::time_point deadline) {
  pollfd exited{.fd = pidfd, .events = POLLIN, .revents = 0};
  while (true) {
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    const int rc = ::poll(&exited, 1, static_cast<int>(std::max<std::int64_t>(0, left.count())));
    if (rc < 0 && errno == EINTR) continue;  // the deadline stays where it was
    return rc > 0;
  }
}

bool ChildProcess::running() const {
  if (pid_ < 0) return false;
  pollfd exited{.fd = pidfd_.get(), .events = POLLIN, .revents = 0};
  // An error (EINTR, ENOMEM) reads as "still running": the next call asks again.
  return ::poll(&exited, 1, 0) != 1;
}

int ChildProcess::wait() {
  if (pid_ < 0) return -1;
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0) {
    if (errno != EINTR) {
      pid_ = -1;  // ECHILD: someone else reaped it (SIGCHLD ignored); status unknown
      return -1;
    }
  }
  pid_ = -1;
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

}  // namespace agentfense
