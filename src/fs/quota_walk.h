// Counting a write layer from scratch: one walk of the upper directory, done when the
// mount starts and after commit/discard moved or removed upper entries (write_quota.h
// says what is counted).
#pragma once

#include "fs/write_quota.h"

namespace agentfense::fs {

// The usage of everything below the upper directory `upper_fd` (not the directory
// itself). Symlinks are never followed. The walk holds one directory fd at a time, so a
// tree nested a million levels deep neither exhausts fds nor the stack. Throws
// SystemError when a directory cannot be read.
QuotaUsage count_upper(int upper_fd);

}  // namespace agentfense::fs
