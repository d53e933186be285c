#include "layer/changes.h"
#include "layer/safe_walk.h"

namespace agentfense::layer {

void discard(Journal& j) {
  // Entries are removed through directory fds with AT_SYMLINK_NOFOLLOW semantics, so an
  // agent-made symlink in upper (e.g. to /etc) is unlinked, never followed.
  empty_dir(j.upper_fd());
  j.reset();
}

}  // namespace agentfense::layer
