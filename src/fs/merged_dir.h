// Reading a directory of the layered view from the host: upper entries shadow base
// entries, whiteouts hide base entries, an opaque directory has no base part (the caller
// passes base_dir = -1 for it).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "fs/inode.h"
#include "layer/journal.h"

namespace agentfense::fs {

// Sorted by name. Returns 0 or -errno. `base_opened`, if given, is called with the base
// directory's fd opened for reading, before it is read.
int read_merged_dir(int base_dir, int upper_dir, const std::string& dir_path,
                    const layer::Journal& journal, std::vector<ListedEntry>* out,
                    const std::function<void(int readable)>& base_opened = nullptr);

// The base and upper O_PATH fds of child directory `name` of a merged directory, with the
// same layering rules as lookup (base part dropped when the child is opaque or whited
// out, or when upper holds a non-directory there).
struct ChildDirFds {
  UniqueFd base;
  UniqueFd upper;
};
ChildDirFds open_child_dirs(int base_dir, int upper_dir, const std::string& name,
                            const std::string& child, const layer::Journal& journal);

}  // namespace agentfense::fs
