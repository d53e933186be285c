// Reading entries of the base or upper tree through a parent directory fd, without
// following symlinks: the small primitives list_changes, render_diff and commit share.
#pragma once

#include <sys/stat.h>

#include <optional>
#include <string>

#include "common/unique_fd.h"
#include "layer/journal.h"

namespace agentfense::layer {

// 'f' regular file, 'd' directory, 'l' symlink, 'p' fifo; 0 for entries the layer does
// not carry (sockets, devices: the fs refuses to create devices, sockets are transient).
char type_char(mode_t mode);

// Opens a regular file for reading; O_NOFOLLOW so a symlink swapped in fails (ELOOP).
UniqueFd open_file_for_read(int dir_fd, const std::string& name);

std::string read_link_at(int dir_fd, const std::string& name);

// Whole content of a regular file, or nullopt when larger than `max_bytes`.
std::optional<std::string> read_file_at(int dir_fd, const std::string& name, size_t max_bytes);

// True when two regular files have byte-identical content.
bool same_content(int dir_a, const std::string& name_a, int dir_b, const std::string& name_b);

// Base identity used for copy-up conflict detection.
BaseStamp stamp_of(const struct stat& st);

}  // namespace agentfense::layer
