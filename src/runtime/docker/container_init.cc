#include "runtime/docker/container_init.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

#include "common/errors.h"

namespace agentfense::runtime::docker {

void ContainerInit::check_alive(const std::string& what) const {
  // Signal 0 checks only that the process lives; a pidfd never names another process.
  if (::syscall(SYS_pidfd_send_signal, pidfd, 0, nullptr, 0) == 0) return;
  throw SystemError(what + ": the container's init (pid " + std::to_string(pid) + ") has exited",
                    ESRCH);
}

}  // namespace agentfense::runtime::docker
