// setattr: chmod, chown, truncate and utimens, each with its own rule. chmod/chown on a
// non-writable path fail with EPERM (as the kernel reports ownership failures); truncate
// and time changes with EACCES (as for a missing write permission).
#include <fcntl.h>
#include <unistd.h>

#include <mutex>

#include "fs/host_io.h"
#include "fs/ops.h"

namespace agentfense::fs {
namespace {

constexpr int kTimeBits =
    FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW;

// The permitted subset of the request, or -errno.
int check_setattr(Filesystem& fs, const NodeView& node, const struct stat& attr, int to_set) {
  const Access& access = fs.access();
  const Owner owner = fs.owner();
  if (((to_set & FUSE_SET_ATTR_UID) && attr.st_uid != owner.uid) ||
      ((to_set & FUSE_SET_ATTR_GID) && attr.st_gid != owner.gid)) {
    // Ownership is fixed: only "chown to the owner it already has" (cp -p, tar) succeeds.
    access.deny(Op::kChown, node.path, node.decision, EPERM);
    return -EPERM;
  }
  const policy::Level write = policy::Level::kWrite;
  if ((to_set & FUSE_SET_ATTR_MODE) && !access.check(Op::kChmod, node.path, node.decision, write)) {
    return -EPERM;
  }
  if ((to_set & FUSE_SET_ATTR_SIZE) &&
      !access.check(Op::kTruncate, node.path, node.decision, write)) {
    return -EACCES;
  }
  if ((to_set & kTimeBits) && !access.check(Op::kUtimens, node.path, node.decision, write)) {
    return -EACCES;
  }
  return 0;
}

timespec time_arg(int to_set, int set_bit, int now_bit, const timespec& value) {
  if (to_set & now_bit) return {0, UTIME_NOW};
  if (to_set & set_bit) return value;
  return {0, UTIME_OMIT};
}

// Applies the change to the node's upper copy through an fd of our own.
int apply(Filesystem& fs, const NodeView& node, const struct stat& attr, int to_set) {
  UniqueFd dir_fd;
  FdCache::Handle file_fd;
  int fd = -1;
  if (node.is_dir()) {
    dir_fd = open_dir_for_listing(node.upper_dir);
    if (!dir_fd) return -errno;
    fd = dir_fd.get();
  } else if (S_ISREG(node.type)) {
    if (int rc = fs.open_file(node, true, &file_fd)) return rc;
    fd = file_fd->get();
  }
  const char* name = node.name.c_str();
  const int parent = node.parent_upper;
  if (to_set & FUSE_SET_ATTR_MODE) {
    // setuid/setgid are stripped, never stored: nothing in a sandbox may gain privileges.
    const mode_t mode = attr.st_mode & 07777 & ~(S_ISUID | S_ISGID);
    if (S_ISLNK(node.type)) {
      // Symlink modes do not exist on Linux; nothing to do.
    } else if (fd >= 0 ? ::fchmod(fd, mode) < 0 : ::fchmodat(parent, name, mode, 0) < 0) {
      return -errno;
    }
  }
  if (to_set & FUSE_SET_ATTR_SIZE) {
    if (fd < 0 || node.is_dir()) return node.is_dir() ? -EISDIR : -EINVAL;
    if (attr.st_size < 0) return -EINVAL;
    // Charged first: growing past the write quota fails with ENOSPC and changes nothing.
    WriteQuota& quota = fs.quota();
    const HostFile& file = *file_fd;
    if (int rc = quota.resize(file.ino, fd, static_cast<std::uint64_t>(attr.st_size))) return rc;
    if (::ftruncate(fd, attr.st_size) < 0) {
      const int error = errno;
      struct stat st;
      if (::fstat(fd, &st) == 0) quota.settle(file.ino, static_cast<std::uint64_t>(st.st_size));
      return -error;
    }
  }
  if (to_set & kTimeBits) {
    const timespec times[2] = {
        time_arg(to_set, FUSE_SET_ATTR_ATIME, FUSE_SET_ATTR_ATIME_NOW, attr.st_atim),
        time_arg(to_set, FUSE_SET_ATTR_MTIME, FUSE_SET_ATTR_MTIME_NOW, attr.st_mtim)};
    const int rc =
        fd >= 0 ? ::futimens(fd, times) : ::utimensat(parent, name, times, AT_SYMLINK_NOFOLLOW);
    if (rc < 0) return -errno;
  }
  return 0;
}

}  // namespace

void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
  Filesystem& fs = fs_of(req);
  std::optional<NodeView> node = node_or_reply(req, ino);
  if (!node) return;
  if (int rc = check_setattr(fs, *node, *attr, to_set)) {
    fuse_reply_err(req, -rc);
    return;
  }
  const int changes = to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_SIZE | kTimeBits);
  if (changes) {
    // Retried outside mutation_mu when a copy-up or a growth is refused for bytes a
    // FORGET is about to give back.
    const int rc = fs.retry_when_bytes_come_back([&] {
      std::lock_guard lock(fs.mutation_mu());
      std::optional<NodeView> fresh = fs.table().view(ino);
      if (!fresh) return -ENOENT;
      // Truncating to zero needs none of the old data (O_TRUNC arrives this way).
      const bool keep_data = !((to_set & FUSE_SET_ATTR_SIZE) && attr->st_size == 0);
      const int copied = fs.copy_up(*fresh, keep_data);
      return copied ? copied : apply(fs, *fresh, *attr, changes);
    });
    if (rc) {
      fuse_reply_err(req, -rc);
      return;
    }
  }
  reply_fresh_attr(req, ino);
}

}  // namespace agentfense::fs
