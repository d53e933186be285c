// Idle I/O priority: work that may only use the disk when nobody else wants it (the
// prewarm walk, removing deleted codebases' trees).
#pragma once

namespace agentfense {

// Puts the calling thread (and threads it creates later) in the idle I/O class
// (ioprio_set, IOPRIO_CLASS_IDLE): 0, or -1 with errno set.
int set_idle_io_priority();

}  // namespace agentfense
