// Size accounting for a codebase: file_count counts regular files and symlinks, size sums
// regular files' bytes (both as the API reports them), and charged is what the limits
// count: size plus a block per directory and symlink (layer/tree_bytes.h). Symlinks are
// never followed. Entries with names reserved for AgentFense's temporary files
// (policy/reserved_names.h) are skipped by tree_stats_inside.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <string>

namespace agentfense::store {

struct TreeStats {
  int64_t size = 0;
  int64_t file_count = 0;
  int64_t charged = 0;

  TreeStats& operator+=(const TreeStats& other) {
    size += other.size;
    file_count += other.file_count;
    charged += other.charged;
    return *this;
  }
  TreeStats operator-(const TreeStats& other) const {
    return {size - other.size, file_count - other.file_count, charged - other.charged};
  }
};

// What a single entry with this stat contributes by itself (a directory: its block).
TreeStats entry_stats(const struct stat& st);

// Stats of `name` in `dir_fd` and, for a directory, of everything below it (the directory
// itself charged too). Zero when `name` does not exist.
TreeStats tree_stats_at(int dir_fd, const std::string& name);

// Stats of everything inside the directory `dir_fd`.
TreeStats tree_stats_inside(int dir_fd);

}  // namespace agentfense::store
