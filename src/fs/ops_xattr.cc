// Extended attributes. Only the user.* namespace exists for the agent: security.* and
// trusted.* could change how the host treats a file (capabilities, labels), so setting
// them is refused with EPERM. Reading security.* answers "not supported" (this fs carries
// no security labels) and so does system.* (no POSIX ACLs), other namespaces "no such
// attribute".
#include <fcntl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <functional>
#include <mutex>
#include <shared_mutex>
#include <string_view>
#include <vector>

#include "fs/host_io.h"
#include "fs/ops.h"

namespace agentfense::fs {
namespace {

using policy::Level;

bool is_user_attr(std::string_view name) {
  return name.starts_with("user.");
}

bool is_privileged_attr(std::string_view name) {
  return name.starts_with("security.") || name.starts_with("trusted.");
}

// An fd on which f*xattr works for `node` (O_PATH fds do not support xattrs).
int xattr_fd(Filesystem& fs, const NodeView& node, bool for_write, UniqueFd* own,
             FdCache::Handle* cached) {
  if (node.is_dir()) {
    *own = open_dir_for_listing(node.upper_dir >= 0 ? node.upper_dir : node.base_dir);
    return own->valid() ? own->get() : -errno;
  }
  if (!S_ISREG(node.type)) return -EPERM;  // user.* is not allowed on links/FIFOs
  if (int rc = fs.open_file(node, for_write, cached)) return rc;
  return (*cached)->get();
}

// Checks read access on `ino` and opens an fd for reading its xattrs into *fd (-errno
// when none can be opened, e.g. links). False when an error has already been replied.
bool readable_xattr_fd_or_reply(fuse_req_t req, fuse_ino_t ino, UniqueFd* own,
                                FdCache::Handle* cached, int* fd) {
  Filesystem& fs = fs_of(req);
  std::optional<NodeView> node = node_or_reply(req, ino);
  if (!node) return false;
  if (!fs.access().check(Op::kGetxattr, node->path, node->decision, Level::kRead)) {
    fuse_reply_err(req, EACCES);
    return false;
  }
  *fd = xattr_fd(fs, *node, false, own, cached);
  return true;
}

int change_xattr(fuse_req_t req, fuse_ino_t ino, const char* name, Op op,
                 const std::function<int(int)>& change) {
  Filesystem& fs = fs_of(req);
  std::optional<NodeView> node = fs.table().view(ino);
  if (!node) return -ENOENT;
  if (is_privileged_attr(name)) {
    fs.access().deny(op, node->path, node->decision, EPERM);
    return -EPERM;
  }
  if (!is_user_attr(name)) return -EOPNOTSUPP;
  if (!fs.access().check(op, node->path, node->decision, Level::kWrite)) return -EACCES;
  std::lock_guard lock(fs.mutation_mu());
  std::optional<NodeView> fresh = fs.table().view(ino);
  if (!fresh) return -ENOENT;
  if (int rc = fs.copy_up(*fresh, true)) return rc;
  UniqueFd own;
  FdCache::Handle cached;
  const int fd = xattr_fd(fs, *fresh, true, &own, &cached);
  if (fd < 0) return fd;
  return change(fd) < 0 ? -errno : 0;
}

}  // namespace

void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
                 int flags) {
  fuse_reply_err(req, -change_xattr(req, ino, name, Op::kSetxattr, [&](int fd) {
                   return ::fsetxattr(fd, name, value, size, flags);
                 }));
}

void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  fuse_reply_err(req, -change_xattr(req, ino, name, Op::kRemovexattr,
                                    [&](int fd) { return ::fremovexattr(fd, name); }));
}

void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  fs_of(req).counters().getxattr++;
  // Only user.* attributes exist, whatever the node. Answering before taking a node
  // snapshot matters: `ls -l` probes security.selinux on every file, every run.
  if (!is_user_attr(name)) {
    // EOPNOTSUPP, not ENODATA, for security.* (labels) and system.* (POSIX ACLs): GNU ls
    // (getfilecon_cache, file_has_acl_cache) remembers a device that supports neither and
    // stops asking, which removes two daemon round trips per file from a first `ls -l`.
    const std::string_view attr(name);
    const bool unsupported = attr.starts_with("security.") || attr.starts_with("system.");
    fuse_reply_err(req, unsupported ? EOPNOTSUPP : ENODATA);
    return;
  }
  const std::shared_lock gate(fs_of(req).layer_gate());
  UniqueFd own;
  FdCache::Handle cached;
  int fd = 0;
  if (!readable_xattr_fd_or_reply(req, ino, &own, &cached, &fd)) return;
  if (fd < 0) {
    fuse_reply_err(req, fd == -EPERM ? ENODATA : -fd);
    return;
  }
  std::vector<char> value(size);
  const ssize_t n = ::fgetxattr(fd, name, value.data(), size);
  if (n < 0) {
    fuse_reply_err(req, errno);
  } else if (size == 0) {
    fuse_reply_xattr(req, static_cast<size_t>(n));
  } else {
    fuse_reply_buf(req, value.data(), static_cast<size_t>(n));
  }
}

void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  UniqueFd own;
  FdCache::Handle cached;
  int fd = 0;
  if (!readable_xattr_fd_or_reply(req, ino, &own, &cached, &fd)) return;
  std::string names;
  if (fd >= 0) {
    std::vector<char> all(64 * 1024);
    const ssize_t n = ::flistxattr(fd, all.data(), all.size());
    if (n < 0) {
      fuse_reply_err(req, errno);
      return;
    }
    for (size_t pos = 0; pos < static_cast<size_t>(n);) {
      const std::string_view attr(all.data() + pos);
      if (is_user_attr(attr)) names.append(attr).push_back('\0');
      pos += attr.size() + 1;
    }
  }
  if (size == 0) {
    fuse_reply_xattr(req, names.size());
  } else if (names.size() > size) {
    fuse_reply_err(req, ERANGE);
  } else {
    fuse_reply_buf(req, names.data(), names.size());
  }
}

}  // namespace agentfense::fs
