// Serializes commits to one base directory across processes (the CLI, the server, fs
// processes) of one user. The lock is a file in a directory only that user can open,
// named by the base's device and inode: a lock on the base directory itself (flock needs
// only a read fd) could be held by any local user who can read it, wedging every apply.
#pragma once

#include <string>

#include "common/unique_fd.h"

namespace agentfense::layer {

// The directory of the lock files, the same in every process of this user whatever its
// environment (fs processes get a fixed one): /run/agentfense/commit-locks as root, else
// /run/user/UID/agentfense/commit-locks when /run/user/UID is ours, else
// /tmp/agentfense-UID/commit-locks. Created 0700; a level owned by someone else is refused.
std::string commit_lock_dir();

class CommitLock {
 public:
  // Blocks until no other commit to the directory `base_dirfd` holds the lock.
  static CommitLock acquire(int base_dirfd);

  // The lock file for `base_dirfd` (for tests and messages).
  static std::string path_for(int base_dirfd);

  CommitLock(CommitLock&&) = default;
  CommitLock& operator=(CommitLock&&) = default;

 private:
  explicit CommitLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;  // closing it releases the lock
};

}  // namespace agentfense::layer
