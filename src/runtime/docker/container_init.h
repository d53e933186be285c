// The host process that is a running container's init, named by a pidfd as well as its
// pid. The server reaches into the container through /proc/<pid> (its root to install
// the execute-only helpers, its network namespace for a session's channel), and once
// init has exited the kernel may give that pid to any process: /proc/<pid>/root would
// then be a stranger's, the host's own for a host process. Whatever is opened through
// /proc is used only after check_alive() says init is still the process the pidfd names.
#pragma once

#include <sys/types.h>

#include <string>

namespace agentfense::runtime::docker {

struct ContainerInit {
  pid_t pid = -1;
  int pidfd = -1;  // RunningContainer owns it

  // Throws SystemError(ESRCH) naming `what` once init has exited.
  void check_alive(const std::string& what) const;
};

}  // namespace agentfense::runtime::docker
