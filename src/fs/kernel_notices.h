// What the kernel must forget after the layers changed beneath a live mount (commit,
// discard, refresh). Collected while mutation_mu() is held and sent only after it is
// released: the kernel handles an invalidation under the directory's inode lock, which a
// task blocked in one of our create/unlink handlers (waiting for mutation_mu()) may hold.
#pragma once

#include <fuse_lowlevel.h>

#include <string>
#include <utility>
#include <vector>

namespace agentfense::fs {

struct KernelNotices {
  // Names whose cached dentry (positive or negative) is wrong now. Never used for a name
  // whose node is still valid: dropping the dentry of a shell's cwd breaks getcwd().
  std::vector<std::pair<fuse_ino_t, std::string>> entries;  // (parent node, name)
  // Nodes whose cached attributes, data pages or directory listing may be stale.
  std::vector<fuse_ino_t> inodes;
};

// Best effort: a node the kernel already forgot answers ENOENT, which is fine.
void send_notices(fuse_session* session, const KernelNotices& notices);

}  // namespace agentfense::fs
