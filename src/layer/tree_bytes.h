// What a tree costs on disk, as the limits count it. Two figures, for two questions:
// - file_bytes_below: the bytes a copy of the tree writes into files (a hard-linked file
//   once per name: the copy writes it once per name). `agentfense run --changes apply`
//   checks this against --disk: the user's directory takes directories for free.
// - charged_bytes_below: what the codebase store charges against storage.max_codebase_bytes
//   and quotas.stored_bytes: every entry at least one block (kEntryBlockBytes), a file its
//   size when larger. Without the block an archive of empty directories and 4 KB symlink
//   targets put 124 MB on disk under a 1 MiB limit, and an agent's commits of empty files
//   put 80,000 inodes into a codebase charged 24 bytes (every tenant's disk runs out of
//   inodes long before bytes).
// Both walk without following symlinks and tolerate a tree changing under them.
#pragma once

#include <sys/stat.h>

#include <cstdint>

namespace agentfense::layer {

// One filesystem block: what a directory or a symlink takes on disk at least (a symlink
// target longer than the inode's inline room takes a block of its own).
inline constexpr std::int64_t kEntryBlockBytes = 4096;

// What one entry costs by the store's count: a regular file its size but at least one
// block, a directory or symlink one block, anything else (whiteout markers, fifos) nothing.
std::int64_t charged_bytes(const struct stat& st);
// A regular file of `size` bytes by the same count.
std::int64_t charged_file_bytes(std::int64_t size);

std::int64_t file_bytes_below(int dir_fd);
std::int64_t charged_bytes_below(int dir_fd);

}  // namespace agentfense::layer
