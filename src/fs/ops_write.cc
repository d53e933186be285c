// Data writes and durability: write, fallocate, fsync, fsyncdir. The first write to a
// base file copies it up. Growth is charged to the write quota (write_quota.h) before it
// happens: a write crossing the limit is shortened to what fits, as on a full disk, and
// one that cannot write a byte fails with ENOSPC.
#include <fcntl.h>
#include <linux/falloc.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <shared_mutex>

#include "fs/host_io.h"
#include "fs/ops.h"

namespace agentfense::fs {
namespace {

// The writable upper fd of a file the agent may write, copying it up first if needed.
int writable_fd(Filesystem& fs, NodeView& node, Op op, FdCache::Handle* fd) {
  if (!fs.access().check(op, node.path, node.decision, policy::Level::kWrite)) return -EACCES;
  if (node.layer != Layer::kUpper) {
    std::lock_guard lock(fs.mutation_mu());
    std::optional<NodeView> fresh = fs.table().view(node.id);  // another thread may have won
    if (!fresh) return -ENOENT;
    node = *fresh;
    if (int rc = fs.copy_up(node, true)) return rc;
  }
  return fs.open_file(node, true, fd);
}

// writable_fd for the node `ino`.
int writable_fd_of(Filesystem& fs, fuse_ino_t ino, FdCache::Handle* fd) {
  std::optional<NodeView> node = fs.table().view(ino);
  return node ? writable_fd(fs, *node, Op::kWrite, fd) : -ENOENT;
}

// After an operation changed a file by an amount other than the one reserved (an
// error, a short write, fallocate): the quota takes the file's real size.
void settle_size(WriteQuota& quota, const HostFile& file) {
  struct stat st;
  if (::fstat(file.get(), &st) == 0) quota.settle(file.ino, static_cast<std::uint64_t>(st.st_size));
}

// The size a fallocate leaves the file at, at most (shrinking modes are settled after).
// -EOPNOTSUPP for allocating past the end without changing the size: such blocks hide
// from a quota that counts sizes.
long long size_after_fallocate(int mode, off_t offset, off_t length, std::uint64_t size,
                               bool limited) {
  const auto end = static_cast<std::uint64_t>(offset) + static_cast<std::uint64_t>(length);
  if (mode & FALLOC_FL_INSERT_RANGE) return static_cast<long long>(size + length);
  if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_COLLAPSE_RANGE)) return static_cast<long long>(size);
  if (mode & FALLOC_FL_KEEP_SIZE) {
    return limited && end > size ? -EOPNOTSUPP : static_cast<long long>(size);
  }
  return static_cast<long long>(std::max(size, end));
}

}  // namespace

// Each attempt takes layer_gate anew: a write waiting for a deleted file's bytes to come
// back (retry_when_bytes_come_back) must not hold a commit or discard off meanwhile, and
// after one the node may be bound to another host file.
void op_write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
              fuse_file_info*) {
  Filesystem& fs = fs_of(req);
  fs.counters().writes++;
  const long written = fs.retry_when_bytes_come_back([&]() -> long {
    std::shared_lock gate(fs.layer_gate());
    FdCache::Handle fd;
    if (int rc = writable_fd_of(fs, ino, &fd)) return rc;
    WriteQuota& quota = fs.quota();
    const long fits = quota.reserve_write(fd->ino, fd->get(), off, size);
    if (fits < 0) return fits;
    const ssize_t n = ::pwrite(fd->get(), buf, static_cast<size_t>(fits), off);
    const int error = errno;
    if (n != fits) settle_size(quota, *fd);
    return n < 0 ? -error : n;
  });
  if (written < 0) {
    fuse_reply_err(req, static_cast<int>(-written));
  } else {
    fuse_reply_write(req, static_cast<size_t>(written));
  }
}

void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                  fuse_file_info*) {
  if (offset < 0 || length <= 0) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  Filesystem& fs = fs_of(req);
  const int rc = fs.retry_when_bytes_come_back([&] {
    std::shared_lock gate(fs.layer_gate());
    FdCache::Handle fd;
    if (int error = writable_fd_of(fs, ino, &fd)) return error;
    WriteQuota& quota = fs.quota();
    struct stat st;
    if (::fstat(fd->get(), &st) < 0) return -errno;
    const long long target = size_after_fallocate(
        mode, offset, length, static_cast<std::uint64_t>(st.st_size), quota.limits().bytes != 0);
    if (target < 0) return static_cast<int>(target);
    if (int error = quota.resize(fd->ino, fd->get(), static_cast<std::uint64_t>(target))) {
      return error;
    }
    const int result = ::fallocate(fd->get(), mode, offset, length) < 0 ? -errno : 0;
    settle_size(quota, *fd);
    return result;
  });
  fuse_reply_err(req, -rc);
}

void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info*) {
  Filesystem& fs = fs_of(req);
  std::optional<NodeView> node = node_or_reply(req, ino);
  if (!node) return;
  // Nothing of a base file can be dirty: the base is never written through us.
  if (node->layer != Layer::kUpper) {
    fuse_reply_err(req, 0);
    return;
  }
  FdCache::Handle fd;
  if (int rc = fs.open_file(*node, false, &fd)) {
    fuse_reply_err(req, -rc);
    return;
  }
  const int rc = datasync ? ::fdatasync(fd->get()) : ::fsync(fd->get());
  fuse_reply_err(req, rc < 0 ? errno : 0);
}

void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info*) {
  std::optional<NodeView> dir = node_or_reply(req, ino);
  if (!dir) return;
  if (dir->upper_dir < 0) {
    fuse_reply_err(req, 0);
    return;
  }
  UniqueFd fd = open_dir_for_listing(dir->upper_dir);
  if (!fd) {
    fuse_reply_err(req, errno);
    return;
  }
  const int rc = datasync ? ::fdatasync(fd.get()) : ::fsync(fd.get());
  fuse_reply_err(req, rc < 0 ? errno : 0);
}

}  // namespace agentfense::fs
