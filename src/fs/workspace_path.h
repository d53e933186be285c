// How long a workspace path ("/a/b/c") may be.
#pragma once

#include <cstddef>

namespace agentfense::fs {

// The longest workspace path the fs serves: 2 * PATH_MAX - 1 bytes, so that a process
// whose working directory has any path it could name (PATH_MAX) can still use any
// relative path it can pass to one call (PATH_MAX), as POSIX tests do. A name whose path
// would be longer is refused with ENAMETOOLONG when it is looked up, created, linked or
// renamed to, and a directory is not renamed where one of its known descendants' paths
// would exceed it. Why a bound at all: everything that names a changed path carries it
// whole (the write layer's journal, commit replies, change lists, audit events), and
// every walk of a write layer (commit, change review, cleanup) holds a directory fd per
// level. With the cap a chain is at most 4,095 levels deep.
inline constexpr std::size_t kMaxWorkspacePath = 2 * 4096 - 1;

}  // namespace agentfense::fs
