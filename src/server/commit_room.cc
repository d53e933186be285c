#include "server/commit_room.h"

#include <fcntl.h>
#include <sys/statvfs.h>

#include "common/errors.h"
#include "common/unique_fd.h"
#include "store/tree_stats.h"
#include "store/upload_limits.h"

namespace agentfense::server {

std::int64_t write_layer_bytes(int workspace_fd, bool quota_limited, const std::string& state_dir) {
  struct statvfs st {};
  if (quota_limited && ::fstatvfs(workspace_fd, &st) == 0) {
    // The fs process reports the quota as the size; free is never more than the host
    // has, so this is what the write layer takes, or more when the host is nearly full.
    return static_cast<std::int64_t>((st.f_blocks - st.f_bfree) * st.f_frsize);
  }
  return write_layer_bytes(state_dir);
}

std::int64_t write_layer_bytes(const std::string& state_dir) {
  const std::string upper = state_dir + "/upper";
  UniqueFd fd(::open(upper.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return 0;  // nothing written yet
    throw SystemError("open " + upper, errno);
  }
  return store::tree_stats_inside(fd.get()).size;
}

void reserve_commit_room(store::CodebaseStore& codebases, const std::string& codebase_id,
                         std::int64_t pending) {
  const store::Room room = codebases.room(codebase_id);
  if (room.bytes < 0 || pending == 0) return;
  if (pending > room.bytes)
    store::throw_over_limit(
        "committing " + store::describe_bytes(pending) + " into codebase " + codebase_id,
        room.key.c_str(), room.limit);
  codebases.add_size(codebase_id, pending);
}

}  // namespace agentfense::server
