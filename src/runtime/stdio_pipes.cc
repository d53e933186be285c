#include "runtime/stdio_pipes.h"

#include <fcntl.h>
#include <unistd.h>

#include "common/errors.h"

namespace agentfense::runtime {
namespace {

Pipe make_pipe(bool parent_writes) {
  int fds[2];
  check_syscall(::pipe2(fds, O_CLOEXEC), "pipe2");
  Pipe pipe{UniqueFd(parent_writes ? fds[1] : fds[0]), UniqueFd(parent_writes ? fds[0] : fds[1])};
  check_syscall(::fcntl(pipe.parent_end.get(), F_SETFL, O_NONBLOCK), "fcntl O_NONBLOCK");
  return pipe;
}

}  // namespace

StdioPipes StdioPipes::create(bool inherit, bool has_stdin_data) {
  StdioPipes stdio;
  if (inherit) return stdio;
  stdio.out = make_pipe(false);
  stdio.err = make_pipe(false);
  if (has_stdin_data) {
    stdio.in = make_pipe(true);
  } else {
    stdio.dev_null.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!stdio.dev_null) throw SystemError("open /dev/null", errno);
  }
  return stdio;
}

void StdioPipes::close_child_ends() {
  in.child_end.reset();
  out.child_end.reset();
  err.child_end.reset();
  dev_null.reset();
}

}  // namespace agentfense::runtime
