// Serializes commits to one base directory across processes (the CLI, the server, fs
// processes) of one user. The lock is a file in a directory only that user can open,
// named by the base's device and inode: a lock on the base directory itself (flock needs
// only a read fd) could be held by any local user who can read it, wedging every apply.
#pragma once

#include <set>
#include <string>

#include "common/unique_fd.h"

namespace agentfense::layer {

// The directory of the lock files, the same in every process of this user whatever its
// environment (fs processes get a fixed one): /run/agentfense/commit-locks as root, else
// /run/user/UID/agentfense/commit-locks when /run/user/UID is ours, else
// /tmp/agentfense-UID/commit-locks. Created 0700; a level owned by someone else is refused.
std::string commit_lock_dir();

// The lock file also records the base directories in which its holder is putting
// temporary ".agentfense-commit-*" entries (file_install.h). A holder killed mid-commit
// (an fs process, a CLI) leaves its temporaries beside their targets, anywhere in the
// tree, and they would stay for good: no sandbox sees them. The record names exactly
// where to look, so the next holder removes them without walking the codebase. It lives
// in the lock file, not in a sandbox's state, because the lock is what every committer
// of that base shares (any sandbox, the CLI) and holding it is what proves no live commit
// owns a temporary entry there. The lock directory is on /run or /tmp: after a reboot
// the record may be gone, and such leftovers stay (never listed nor counted by the
// store).
class CommitLock {
 public:
  // Blocks until no other commit to the directory `base_dirfd` holds the lock, then
  // removes what a holder that died left (its recorded temporary entries).
  static CommitLock acquire(int base_dirfd);

  // Removes a dead holder's leftovers under `base_dirfd` when nobody holds its lock now;
  // never waits, never creates a lock file (for a server's start-up). Best effort.
  static void sweep_leftovers(int base_dirfd);

  // The lock file for `base_dirfd` (for tests and messages).
  static std::string path_for(int base_dirfd);

  // Records that temporary entries are about to be made in base directory `dir_path`
  // ("/" or "/a/b"); call before making them. Throws SystemError when it cannot.
  void note_temp_dir(const std::string& dir_path);
  // The commit ended in this process (its temporaries renamed or removed): the record
  // is cleared.
  void finished();

  CommitLock(CommitLock&&) = default;
  CommitLock& operator=(CommitLock&&) = default;

 private:
  explicit CommitLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;                  // closing it releases the lock
  std::set<std::string> noted_;  // directories recorded by this holder
};

}  // namespace agentfense::layer
