// Putting one upper entry into the base atomically: the new entry is fully built under
// a temporary name in the target directory, made durable, then renamed over the old one,
// so readers of the base see either the old or the new entry, never a partial file.
#pragma once

#include <string>

namespace agentfense::layer {

// Makes `name` in `base_parent` a copy of `name` in `upper_parent` (regular file,
// symlink, fifo or directory; a directory is created or re-moded, never filled).
// Symlinks are copied as links, never dereferenced; setuid/setgid bits are stripped.
// Replacing a directory by a non-directory (or the reverse) swaps them atomically with
// RENAME_EXCHANGE, then removes the old tree; callers check write on that tree first.
void install_entry(int upper_parent, int base_parent, const std::string& name);

// Applies permission bits (setuid/setgid stripped) to a directory without following
// a symlink at `name`.
void set_dir_mode(int parent_fd, const std::string& name, mode_t mode);

}  // namespace agentfense::layer
