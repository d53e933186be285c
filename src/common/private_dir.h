// Directories that hold what only we may reach (sandbox mountpoints, run directories,
// commit locks, id leases): mode 0700, owned by our effective uid. One that already
// exists is accepted only if it is a real directory we own; a symlink or someone else's
// directory in its place would let another user reach or hold what we keep there.
#pragma once

#include <string>

#include "common/unique_fd.h"

namespace agentfense {

// Creates (mode 0700) or opens directory `name` below `parent`, checked through the fd it
// returns (never by path again): not a symlink, owned by us, mode then made 0700.
// `shown` names it in errors. Throws UserError when it is not ours, SystemError when a
// syscall fails.
UniqueFd open_private_dir(int parent, const std::string& name, const std::string& shown);

// The same for an absolute or relative `path` whose last component is the directory.
UniqueFd open_private_dir(const std::string& path);

}  // namespace agentfense
