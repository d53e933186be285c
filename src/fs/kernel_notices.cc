#include "fs/kernel_notices.h"

#include <set>

namespace agentfense::fs {

void send_notices(fuse_session* session, const KernelNotices& notices) {
  if (!session) return;
  // Errors are deliberately ignored: ENOENT means the kernel holds nothing to drop, and
  // after an unmount there is no kernel cache left at all.
  std::set<std::pair<fuse_ino_t, std::string>> entries(notices.entries.begin(),
                                                       notices.entries.end());
  for (const auto& [parent, name] : entries) {
    (void)fuse_lowlevel_notify_inval_entry(session, parent, name.c_str(), name.size());
  }
  std::set<fuse_ino_t> inodes(notices.inodes.begin(), notices.inodes.end());
  for (fuse_ino_t ino : inodes) {
    // Offset 0, length 0: attributes and every cached page (data or listing).
    (void)fuse_lowlevel_notify_inval_inode(session, ino, 0, 0);
  }
}

}  // namespace agentfense::fs
