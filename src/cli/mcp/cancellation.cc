#include "cli/mcp/cancellation.h"

#include <fcntl.h>
#include <unistd.h>

#include "common/errors.h"

namespace agentfense::cli::mcp {

Cancellation::Cancellation() {
  int fds[2];
  check_syscall(::pipe2(fds, O_CLOEXEC | O_NONBLOCK), "pipe2");
  read_end_.reset(fds[0]);
  write_end_.reset(fds[1]);
}

void Cancellation::cancel() {
  if (cancelled_.exchange(true)) return;
  const char byte = 1;
  // One byte into an empty pipe cannot block or fail short; the fd stays readable.
  (void)!::write(write_end_.get(), &byte, 1);
}

}  // namespace agentfense::cli::mcp
