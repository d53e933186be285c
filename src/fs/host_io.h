// Thin helpers over host syscalls for FUSE handlers, which never throw: every helper
// returns 0 / a non-negative value on success and -errno on failure.
#pragma once

#include <sys/stat.h>

#include <cerrno>
#include <string>
#include <string_view>

#include "common/unique_fd.h"

namespace agentfense::fs {

inline int result_of(long rc) {
  return rc < 0 ? -errno : static_cast<int>(rc);
}

// fstatat(dir, name, AT_SYMLINK_NOFOLLOW); `name` empty means the fd itself.
int stat_at(int dir_fd, const std::string& name, struct stat* st);
// O_PATH|O_DIRECTORY|O_NOFOLLOW handle of a subdirectory (invalid UniqueFd + errno on
// failure).
UniqueFd open_dir_path(int dir_fd, const std::string& name);
// A readable directory stream fd for an O_PATH directory fd.
UniqueFd open_dir_for_listing(int dir_path_fd);
// Workspace paths: layer/safe_walk.h (child_path, split_path, ...).

}  // namespace agentfense::fs
