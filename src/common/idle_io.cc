#include "common/idle_io.h"

#include <sys/syscall.h>
#include <unistd.h>

namespace agentfense {
namespace {

// From the kernel's ioprio ABI (include/uapi/linux/ioprio.h). Not included: from
// Debian 12's linux-libc-dev 6.1.192 on, that header declares ioprio_value(int class, ...),
// which C++ cannot parse.
constexpr int kIoprioWhoProcess = 1;   // IOPRIO_WHO_PROCESS; with who 0: the calling thread
constexpr int kIoprioClassIdle = 3;    // IOPRIO_CLASS_IDLE
constexpr int kIoprioClassShift = 13;  // IOPRIO_CLASS_SHIFT
constexpr int kIoprioIdle = kIoprioClassIdle << kIoprioClassShift;  // level 0 of the class

}  // namespace

int set_idle_io_priority() {
  return static_cast<int>(::syscall(SYS_ioprio_set, kIoprioWhoProcess, 0, kIoprioIdle));
}

}  // namespace agentfense
