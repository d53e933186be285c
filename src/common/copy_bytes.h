// Copying a file's bytes from one fd to another, on any pair of filesystems.
#pragma once

#include <cstdint>

namespace agentfense {

// Copies from the current offset of `from` to that of `to` until `from` ends or `limit`
// bytes are copied. copy_file_range(2) first (in-kernel, reflinks where the filesystem
// can); where the pair does not support it (EXDEV across filesystems, e.g. a write layer
// on a tmpfs over a codebase on ext4), plain read/write. Returns 0 or -errno.
[[nodiscard]] int copy_bytes(int from, int to, std::uint64_t limit = UINT64_MAX);

}  // namespace agentfense
