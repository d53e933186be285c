// Moving a fully extracted staging tree into a codebase directory.
#pragma once

#include "store/tree_stats.h"

namespace agentfense::store {

// Moves every entry of directory `from_fd` into directory `to_fd` with rename(): a
// directory present on both sides is merged recursively (the existing one keeps its mode);
// anything else at the destination (file, symlink, or a directory replaced by a file) is
// replaced. Symlinks at the destination are replaced, never followed. Returns the change
// in the destination's size/file_count.
TreeStats merge_tree(int from_fd, int to_fd);

}  // namespace agentfense::store
