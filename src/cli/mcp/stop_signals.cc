#include "cli/mcp/stop_signals.h"

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "common/errors.h"

namespace agentfense::cli::mcp {

StopSignals::StopSignals() {
  sigset_t stop;
  sigemptyset(&stop);
  for (const int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&stop, sig);
  sigset_t blocked = stop;
  sigaddset(&blocked, SIGPIPE);
  if (const int rc = ::pthread_sigmask(SIG_BLOCK, &blocked, nullptr); rc != 0)
    throw SystemError("pthread_sigmask", rc);
  fd_.reset(static_cast<int>(
      check_syscall(::signalfd(-1, &stop, SFD_CLOEXEC | SFD_NONBLOCK), "signalfd")));
}

int StopSignals::take() const {
  signalfd_siginfo info{};
  const ssize_t n = ::read(fd_.get(), &info, sizeof info);
  return n == static_cast<ssize_t>(sizeof info) ? static_cast<int>(info.ssi_signo) : 0;
}

}  // namespace agentfense::cli::mcp
