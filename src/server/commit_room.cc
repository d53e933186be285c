#include "server/commit_room.h"

#include <fcntl.h>

#include "common/api_error.h"
#include "common/errors.h"
#include "common/unique_fd.h"
#include "layer/tree_bytes.h"
#include "store/upload_limits.h"

namespace agentfense::server {

std::int64_t write_layer_bytes(const std::string& state_dir) {
  const std::string upper = state_dir + "/upper";
  UniqueFd fd(::open(upper.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return 0;  // nothing written yet
    throw SystemError("open " + upper, errno);
  }
  return layer::charged_bytes_below(fd.get());
}

store::Room reserve_commit_room(store::CodebaseStore& codebases, const std::string& codebase_id,
                                std::int64_t pending) {
  const store::Room room = codebases.room(codebase_id);
  if (room.bytes < 0 || pending == 0) return room;
  if (pending > room.bytes)
    store::throw_over_limit(
        "committing " + store::describe_bytes(pending) + " into codebase " + codebase_id,
        room.key.c_str(), room.limit);
  codebases.add_charge(codebase_id, pending);
  return room;
}

void throw_commit_over_room(const std::string& sandbox_id, std::int64_t bytes,
                            const store::Room& room) {
  store::throw_over_limit("committing " + store::describe_bytes(bytes) + " from sandbox " +
                              sandbox_id +
                              " (its processes wrote more since the commit was checked)",
                          room.key.c_str(), room.limit);
}

void throw_review_outdated(const std::string& why) {
  throw ApiError(StatusCode::ABORTED, "nothing committed: " + why, kReasonReviewOutdated);
}

}  // namespace agentfense::server
