#include "server/commit_room.h"

#include <fcntl.h>

#include "common/errors.h"
#include "common/unique_fd.h"
#include "store/tree_stats.h"
#include "store/upload_limits.h"

namespace agentfense::server {

void reserve_commit_room(store::CodebaseStore& codebases, const std::string& codebase_id,
                         const std::string& state_dir) {
  const std::int64_t room = codebases.free_bytes(codebase_id);
  if (room < 0) return;
  const std::string upper = state_dir + "/upper";
  UniqueFd fd(::open(upper.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return;  // nothing written yet
    throw SystemError("open " + upper, errno);
  }
  const std::int64_t pending = store::tree_stats_inside(fd.get()).size;
  if (pending > room)
    store::throw_over_limit(
        "committing " + store::describe_bytes(pending) + " into codebase " + codebase_id,
        "storage.max_codebase_bytes", codebases.limits().max_codebase_bytes);
  codebases.add_size(codebase_id, pending);
}

}  // namespace agentfense::server
