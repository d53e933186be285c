// How a host stat is presented to the agent. With `default_permissions` and a non-root,
// capability-less agent uid, these mode bits are what enforce view/read once the kernel
// has cached an entry, so they must reflect the level exactly. One exception: a directory
// in which some name may be written shows the owner's write bit whatever its own level
// (the kernel checks the parent before a create/unlink/rename reaches the daemon, which
// then decides by the name's own level; docs/permissions.md).
#pragma once

#include <sys/stat.h>

#include "fs/inode_table.h"

namespace agentfense::fs {

struct Owner {
  uid_t uid;
  gid_t gid;
};

// Rewrites `st` (a host stat of `node`) in place: our node id as inode number, the
// sandbox owner, level-masked mode bits, for directories a fixed link count and size
// that never reveal hidden children, and for codebase files a link count of at most 1
// (their other names may be hidden).
void present_attr(const NodeView& node, Owner owner, struct stat* st);

}  // namespace agentfense::fs
