#include "common/errors.h"

#include <cstring>

namespace agentfense {

SystemError::SystemError(const std::string& step, int err)
    : std::runtime_error(step + ": " + std::strerror(err)), code_(err) {}

long check_syscall(long rc, const std::string& step) {
  if (rc < 0) throw SystemError(step, errno);
  return rc;
}

}  // namespace agentfense
