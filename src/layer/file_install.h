// Putting one upper entry into the base atomically: the new entry is fully built under
// a temporary name in the target directory, made durable, then renamed over the old one,
// so readers of the base see either the old or the new entry, never a partial file.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace agentfense::layer {

// The permission bits a committed entry gets: the sandbox's bits without setuid/setgid,
// and without group/other write or the sticky bit unless the base entry (if any) already
// had them - the host gets plain permissions, never a world-writable file it did not have.
mode_t committed_mode(mode_t upper_mode, std::optional<mode_t> base_mode);

struct Installed {
  mode_t mode = 0;            // permission bits given to the base entry (committed_mode)
  mode_t requested_mode = 0;  // the upper entry's permission bits
};

// Makes `name` in `base_parent` a copy of `name` in `upper_parent` (regular file,
// symlink or directory; a directory is created or re-moded, never filled). Symlinks
// are copied as links, never dereferenced; other types are refused (SystemError).
// Replacing a directory by a non-directory (or the reverse) swaps them atomically with
// RENAME_EXCHANGE, then removes the old tree; callers check write on that tree first.
Installed install_entry(int upper_parent, int base_parent, const std::string& name);

// Sets a directory's permission bits (exactly `mode & 07777`) without following a
// symlink at `name`.
void set_dir_mode(int parent_fd, const std::string& name, mode_t mode);

}  // namespace agentfense::layer
