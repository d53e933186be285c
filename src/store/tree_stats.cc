#include "store/tree_stats.h"

#include <fcntl.h>

#include <cerrno>
#include <optional>

#include "common/errors.h"
#include "common/unique_fd.h"
#include "layer/safe_walk.h"
#include "layer/tree_bytes.h"
#include "policy/reserved_names.h"

namespace agentfense::store {

TreeStats entry_stats(const struct stat& st) {
  const std::int64_t charged = layer::charged_bytes(st);
  if (S_ISREG(st.st_mode)) return {st.st_size, 1, charged};
  if (S_ISLNK(st.st_mode)) return {0, 1, charged};
  return {0, 0, charged};
}

TreeStats tree_stats_at(int dir_fd, const std::string& name) {
  const std::optional<struct stat> st = layer::stat_at(dir_fd, name);
  if (!st) return {};
  if (!S_ISDIR(st->st_mode)) return entry_stats(*st);
  UniqueFd child(
      check_syscall(::openat(dir_fd, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC),
                    "open " + name));
  return entry_stats(*st) += tree_stats_inside(child.get());
}

TreeStats tree_stats_inside(int dir_fd) {
  TreeStats total;
  // AgentFense's own temporary entries (a commit's or an upload's, or what a crash left of
  // one) are not the codebase's: neither counted nor charged.
  layer::for_each_entry_below(
      dir_fd, [&total](const struct stat& st) { total += entry_stats(st); },
      [](const std::string& name) { return policy::is_reserved_name(name); });
  return total;
}

}  // namespace agentfense::store
