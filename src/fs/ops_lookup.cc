// Name resolution and metadata: lookup, forget, getattr, readlink, statfs.
#include <fcntl.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <shared_mutex>
#include <vector>

#include "fs/host_io.h"
#include "fs/ops.h"

namespace agentfense::fs {

std::optional<NodeView> node_or_reply(fuse_req_t req, fuse_ino_t ino) {
  std::optional<NodeView> node = fs_of(req).table().view(ino);
  if (!node) fuse_reply_err(req, ENOENT);
  return node;
}

void reply_fresh_attr(fuse_req_t req, fuse_ino_t id) {
  std::optional<NodeView> node = node_or_reply(req, id);
  if (!node) return;
  struct stat st;
  if (int rc = fs_of(req).attr(*node, &st)) {
    fuse_reply_err(req, -rc);
    return;
  }
  fuse_reply_attr(req, &st, kCacheTimeoutSeconds);
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  fs_of(req).counters().lookups++;
  const std::shared_lock gate(fs_of(req).layer_gate());
  std::optional<NodeView> dir = node_or_reply(req, parent);
  if (!dir) return;
  fuse_entry_param entry;
  const int rc = fs_of(req).lookup(*dir, name, &entry);
  if (rc == -ENOENT) {
    // A cached negative entry: names appear through this daemon, which replaces the
    // negative dentry itself when it creates one, or in the base through another
    // sandbox's commit (a create over it is retried as an open: op_create).
    fuse_entry_param negative{};
    negative.entry_timeout = kCacheTimeoutSeconds;
    fuse_reply_entry(req, &negative);
  } else if (rc) {
    fuse_reply_err(req, -rc);
  } else {
    fuse_reply_entry(req, &entry);
  }
}

void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  fs_of(req).forget(ino, nlookup);
  fuse_reply_none(req);
}

void op_forget_multi(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  for (size_t i = 0; i < count; ++i) fs_of(req).forget(forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  Filesystem& fs = fs_of(req);
  fs.counters().getattr++;
  const std::shared_lock gate(fs.layer_gate());
  if (fs.access().auditing()) {
    // The kernel enforces view on its own (mode bits without read/write), and asks for
    // fresh attributes before it answers EACCES, while the ones it holds are still valid
    // for an hour. So a GETATTR of a view file is, nearly always, an open or exec the
    // kernel is refusing (docs/audit.md: which of the two it cannot tell us).
    if (std::optional<NodeView> node = fs.table().view(ino);
        node && S_ISREG(node->type) && node->decision.level <= policy::Level::kView) {
      fs.access().record_event("open", node->path, node->decision, false, EACCES, "mode");
    }
  }
  reply_fresh_attr(req, ino);
}

void op_readlink(fuse_req_t req, fuse_ino_t ino) {
  const std::shared_lock gate(fs_of(req).layer_gate());
  std::optional<NodeView> node = node_or_reply(req, ino);
  if (!node) return;
  // A link's target is metadata (ls -l shows it), so view suffices; the kernel resolves
  // the target through this filesystem, where the target's own level applies.
  if (!fs_of(req).access().check(Op::kReadlink, node->path, node->decision, policy::Level::kView)) {
    fuse_reply_err(req, EACCES);
    return;
  }
  std::vector<char> target(PATH_MAX + 1);
  const ssize_t n =
      ::readlinkat(node->host_parent(), node->name.c_str(), target.data(), target.size() - 1);
  if (n < 0) {
    fuse_reply_err(req, errno);
    return;
  }
  target[static_cast<size_t>(n)] = '\0';
  fuse_reply_readlink(req, target.data());
}

// `df` inside the sandbox shows its write quota: the size is the quota, "used" is what
// the write layer takes, and free is what is left (never more than the host has left).
// An unlimited dimension shows the host's numbers, as before.
void op_statfs(fuse_req_t req, fuse_ino_t) {
  Filesystem& fs = fs_of(req);
  struct statvfs st;
  UniqueFd upper = open_dir_for_listing(fs.journal().upper_fd());
  if (!upper || ::fstatvfs(upper.get(), &st) < 0) {
    fuse_reply_err(req, errno);
    return;
  }
  const QuotaLimits& limits = fs.quota().limits();
  const QuotaUsage used = fs.quota().usage();
  if (limits.bytes != 0) {
    constexpr std::uint64_t block = WriteQuota::kBlock;
    const std::uint64_t host_free = static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize / block;
    const std::uint64_t left = used.bytes < limits.bytes ? (limits.bytes - used.bytes) / block : 0;
    st.f_bsize = st.f_frsize = block;
    st.f_blocks = limits.bytes / block;
    st.f_bfree = st.f_bavail = std::min(left, host_free);
  }
  if (limits.inodes != 0) {
    const std::uint64_t left = used.inodes < limits.inodes ? limits.inodes - used.inodes : 0;
    st.f_files = limits.inodes;
    st.f_ffree = st.f_favail = std::min<std::uint64_t>(left, st.f_favail);
  }
  fuse_reply_statfs(req, &st);
}

}  // namespace agentfense::fs
