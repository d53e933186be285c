// Fixing up known nodes in place after the layers changed beneath a live mount: a commit
// moved upper entries into the base, a discard emptied upper, or another sandbox's commit
// changed the base. The node ids the kernel holds keep working (a shell whose cwd is a
// just-committed directory goes on using it), each node now pointing at wherever its
// path resolves; nodes whose path no longer resolves to the same type leave the namespace.
#pragma once

#include <string>
#include <vector>

#include "fs/filesystem.h"
#include "fs/kernel_notices.h"

namespace agentfense::fs {

// Rebinds every live node at or under each of `roots`. A node whose host entry moved
// (layer or directory changed) or that lies at/under one of `changed_paths` (entries that
// appeared, vanished or changed) loses its cached fd, listing and kernel caches; for
// each changed path the parent's listing and a possible negative dentry are dropped too.
// Caller holds layer_gate() exclusively and mutation_mu().
KernelNotices rebind_nodes(Filesystem& fs, const std::vector<std::string>& roots,
                           const std::vector<std::string>& changed_paths);

}  // namespace agentfense::fs
