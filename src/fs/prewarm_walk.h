// The warm-up walk over a freshly started sandbox's mount (sandbox.prewarm), so that an
// agent's first command finds the kernel's caches as a second one would: every
// directory listed twice (READDIRPLUS leaves a dentry and attributes for each entry;
// some listings stay cached only from their second reading), then the small files the
// agent may read, read once (the first READ of a batch pushes its siblings into the
// page cache, prefetch.h, so most reads are cache hits). In a git work tree it also asks
// for each directory's .gitignore, which git status opens everywhere, present or not.
//
// It runs in a process of its own (`agentfense prewarm`, started by the fs process),
// as the sandbox's own host ids, so it sees exactly what the agent sees and can never
// read what the agent could not; at idle CPU and I/O priority, one request at a time,
// within a byte and time budget. The fs process leaves its requests and opens out of
// the audit trail (Access::set_quiet_pid): the trail is the agent's.
#pragma once

#include <chrono>
#include <cstdint>

namespace agentfense::fs {

struct PrewarmBudget {
  std::uint64_t max_file_bytes = 256 * 1024;  // larger files are left alone
  std::uint64_t max_total_bytes = 256 << 20;  // stop reading after this much
  std::uint64_t max_entries = 200'000;        // names visited, all kinds
  std::chrono::seconds max_time{120};
};

struct PrewarmTotals {
  std::uint64_t directories = 0, files_read = 0, bytes_read = 0, entries = 0;
  bool complete = false;  // false: a budget ran out first
};

// Walks the tree below `root_fd` (a directory fd of the mount's root): all directories
// first, breadth first (and once more), then the small regular files readable by the
// caller, in listing order. Errors (a name removed meanwhile, EACCES) skip that name.
PrewarmTotals prewarm_walk(int root_fd, const PrewarmBudget& budget);

}  // namespace agentfense::fs
