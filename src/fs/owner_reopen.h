// Rootless only (docs/rootless.md). As root the fs process opens upper-layer files
// whatever their mode bits (CAP_DAC_OVERRIDE); run as the user it has only the owner's
// bits. The agent's own access was already decided by the kernel (default_permissions)
// when it opened the file, and it keeps that access after a chmod - git writes each
// object through the fd that created it with mode 0444 - so when such a file's fd has
// left the fd cache, reopening it must not fail on those bits.
#pragma once

#include <sys/types.h>

#include <string>

#include "common/unique_fd.h"

namespace agentfense::fs {

// Opens the regular file `name` in `dir` (never following a symlink) with `flags`,
// lending the owner the read/write bits the access mode needs for the open and putting
// the file's mode back right after. Only for a file this process owns (an upper-layer
// file): anything else fails with EACCES. Returns an invalid fd with errno set on failure.
UniqueFd reopen_own_file(int dir, const std::string& name, int flags);

// For the span of one copy-up: the owner's write and search bits on an upper directory
// of ours that lacks them (the agent made it, or it copies a base directory, 0555), so the
// copy can be created in it as root would - natively, writing an existing file in a
// read-only directory works. A no-op as root, for a directory of someone else, or one
// that has the bits. The mode is put back unless it changed meanwhile.
class OwnerWriteLease {
 public:
  explicit OwnerWriteLease(int dir);
  ~OwnerWriteLease();
  OwnerWriteLease(const OwnerWriteLease&) = delete;
  OwnerWriteLease& operator=(const OwnerWriteLease&) = delete;

 private:
  int dir_ = -1;  // -1: nothing lent
  mode_t mode_ = 0, lent_ = 0;
};

// Links the unnamed O_TMPFILE `fd` as `name` in `dir`. linkat(AT_EMPTY_PATH) needs
// CAP_DAC_READ_SEARCH before Linux 6.10; the /proc/self/fd form open(2) documents works
// for anyone. Returns 0 or -errno.
int link_tmpfile(int fd, int dir, const std::string& name);

}  // namespace agentfense::fs
