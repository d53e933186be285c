#include "fs/host_io.h"

#include <fcntl.h>

namespace agentfense::fs {

int stat_at(int dir_fd, const std::string& name, struct stat* st) {
  const int flags = AT_SYMLINK_NOFOLLOW | (name.empty() ? AT_EMPTY_PATH : 0);
  return result_of(::fstatat(dir_fd, name.c_str(), st, flags));
}

UniqueFd open_dir_path(int dir_fd, const std::string& name) {
  return UniqueFd(::openat(dir_fd, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
}

UniqueFd open_dir_for_listing(int dir_path_fd) {
  return UniqueFd(::openat(dir_path_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

}  // namespace agentfense::fs
