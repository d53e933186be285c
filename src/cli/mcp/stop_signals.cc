#include "cli/mcp/stop_signals.h"

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "common/errors.h"

namespace agentfense::cli::mcp {

namespace {

bool inherited_as_ignored(int sig) {
  struct sigaction current {};
  return ::sigaction(sig, nullptr, &current) == 0 && current.sa_handler == SIG_IGN;
}

}  // namespace

StopSignals::StopSignals(bool keep_ignored) {
  sigset_t stop;
  sigemptyset(&stop);
  // A blocked signal is queued even when ignored, so an ignored one is left out of the
  // set (and unblocked) to stay ignored.
  for (const int sig : {SIGINT, SIGTERM, SIGHUP})
    if (!(keep_ignored && inherited_as_ignored(sig))) sigaddset(&stop, sig);
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
