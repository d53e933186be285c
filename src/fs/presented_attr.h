// How a host stat is presented to the agent. With `default_permissions` and a non-root,
// capability-less agent uid, these mode bits are what enforce view/read once the kernel
// has cached an entry, so they must reflect the level exactly.
#pragma once

#include <sys/stat.h>

#include "fs/inode_table.h"

namespace agentfense::fs {

struct Owner {
  uid_t uid;
  gid_t gid;
};

// Rewrites `st` (a host stat of `node`) in place: our node id as inode number, the
// sandbox owner, level-masked mode bits, and for directories a fixed link count and size
// that never reveal hidden children.
void present_attr(const NodeView& node, Owner owner, struct stat* st);

}  // namespace agentfense::fs
