#include "layer/listing_walk.h"

#include <fcntl.h>

#include <cerrno>

#include "common/errors.h"
#include "common/text_safety.h"
#include "common/unique_fd.h"
#include "common/user_text.h"
#include "layer/safe_walk.h"
#include "policy/reserved_names.h"

namespace agentfense::layer {

void ListingWalk::log_unlisted(std::string_view event, log::Fields owner) const {
  if (unlisted_.count == 0) return;
  owner["count"] = unlisted_.count;
  owner["first"] = escape_user_text(unlisted_.first);
  owner["why"] = "not valid UTF-8";
  log::warn(event, owner);
}

void ListingWalk::run(int dir_fd, const std::string& dir_path) {
  where_ = dir_path;
  for (const std::string& name : list_names(dir_fd)) {
    if (budget_.spent()) return;
    // AgentFense's own temporary entries (a commit's, an upload's staging tree, or what a
    // crash left of one) are nobody's content: never listed, like in a sandbox.
    if (policy::is_reserved_name(name)) continue;
    const std::string path = child_path(dir_path, name);
    if (!is_valid_utf8(name)) {
      if (unlisted_.count++ == 0) unlisted_.first = path;
      continue;
    }
    const std::optional<struct stat> st = stat_at(dir_fd, name);
    if (!st) continue;  // removed while we listed
    if (!budget_.take(path.size())) return;
    visit_(path, *st);
    if (!recursive_ || !S_ISDIR(st->st_mode)) continue;
    const int child = ::openat(dir_fd, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (child < 0 && (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)) continue;  // raced
    where_ = path;
    const UniqueFd child_fd(static_cast<int>(check_syscall(child, "open " + path)));
    run(child_fd.get(), path);
  }
}

}  // namespace agentfense::layer
