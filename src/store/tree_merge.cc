#include "store/tree_merge.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include <optional>
#include <string>

#include "common/errors.h"
#include "common/unique_fd.h"
#include "layer/safe_walk.h"

namespace agentfense::store {
namespace {

UniqueFd open_subdir(int parent_fd, const std::string& name) {
  return UniqueFd(check_syscall(
      ::openat(parent_fd, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC),
      "open " + name));
}

}  // namespace

TreeStats merge_tree(int from_fd, int to_fd) {
  TreeStats delta;
  for (const std::string& name : layer::list_names(from_fd)) {
    const std::optional<struct stat> source = layer::stat_at(from_fd, name);
    if (!source) continue;
    const std::optional<struct stat> target = layer::stat_at(to_fd, name);
    if (target && S_ISDIR(source->st_mode) && S_ISDIR(target->st_mode)) {
      UniqueFd from_child = open_subdir(from_fd, name);
      UniqueFd to_child = open_subdir(to_fd, name);
      delta += merge_tree(from_child.get(), to_child.get());
      continue;
    }
    delta += tree_stats_at(from_fd, name);
    if (target) {
      delta = delta - tree_stats_at(to_fd, name);
      // rename() replaces a non-directory atomically; a directory on either side of a
      // type change must go first.
      if (S_ISDIR(source->st_mode) || S_ISDIR(target->st_mode)) {
        layer::remove_tree_at(to_fd, name);
      }
    }
    check_syscall(::renameat(from_fd, name.c_str(), to_fd, name.c_str()), "move " + name);
  }
  return delta;
}

}  // namespace agentfense::store
