// Data and listing reads. OPEN/OPENDIR are answered ENOSYS so the kernel stops sending
// them and keeps its page cache across opens; READ/READDIR then arrive with fh = 0 and are
// served from the fd cache and the per-directory listing cache. A READ at offset 0 first
// lets the prefetcher push the files listed after it (prefetch.h).
#include <functional>
#include <shared_mutex>
#include <vector>

#include "fs/host_io.h"
#include "fs/ops.h"
#include "fs/prefetch.h"

namespace agentfense::fs {
namespace {

// Offsets handed to the kernel: 1 and 2 follow "." and "..", entry i is followed by i + 3.
constexpr off_t kFirstEntryOffset = 2;

struct DirEntryOut {
  std::string name;
  fuse_entry_param entry{};
};

}  // namespace

void op_open(fuse_req_t req, fuse_ino_t, fuse_file_info*) {
  fs_of(req).counters().open++;
  fuse_reply_err(req, ENOSYS);
}

void op_opendir(fuse_req_t req, fuse_ino_t, fuse_file_info*) {
  fs_of(req).counters().opendir++;
  fuse_reply_err(req, ENOSYS);
}

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  Filesystem& fs = fs_of(req);
  fs.counters().reads++;
  if (off == 0) {
    // Before the gate and the reply: it takes the gate per file it pushes (prefetch.h).
    fs.with_prefetcher([&](Prefetcher& prefetcher) {
      if (std::optional<NodeView> file = fs.table().view(ino)) prefetcher.file_read(fs, *file);
    });
  }
  const std::shared_lock gate(fs.layer_gate());  // see filesystem.h: no commit mid-read
  std::optional<NodeView> node = node_or_reply(req, ino);
  if (!node) return;
  if (!fs.access().check(Op::kRead, node->path, node->decision, policy::Level::kRead)) {
    fuse_reply_err(req, EACCES);
    return;
  }
  FdCache::Handle fd;
  if (int rc = fs.open_file(*node, false, &fd)) {
    fuse_reply_err(req, -rc);
    return;
  }
  // Through /dev/fuse, spliced straight from the host fd: no copy through our memory.
  // Over io_uring the reply must go into the request's ring entry, which only written
  // replies reach (kernel_channel.h): read into memory.
  fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
  buf.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
  buf.buf[0].fd = fd->get();
  buf.buf[0].pos = off;
  fuse_reply_data(req, &buf,
                  fs.kernel_features().serving_uring() ? FUSE_BUF_NO_SPLICE : FUSE_BUF_SPLICE_MOVE);
}

namespace {

void reply_listing(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus) {
  Filesystem& fs = fs_of(req);
  const std::shared_lock gate(fs.layer_gate());
  fs.counters().readdir++;
  std::optional<NodeView> dir = node_or_reply(req, ino);
  if (!dir) return;
  // Every listing the agent starts arrives here at offset 0 (OPENDIR is ENOSYS, so the
  // kernel keeps no directory cache): one event per listing, coalesced per command.
  if (off == 0) fs.access().record_event("readdir", dir->path, dir->decision, true, 0, {});
  std::shared_ptr<const Listing> listing;
  if (int rc = fs.listing(*dir, off > 0, &listing)) {
    fuse_reply_err(req, -rc);
    return;
  }
  std::vector<char> buf(size);
  size_t used = 0;
  auto add = [&](const std::string& name, fuse_entry_param& entry, off_t next) {
    const size_t room = buf.size() - used;
    const size_t need =
        plus ? fuse_add_direntry_plus(req, buf.data() + used, room, name.c_str(), &entry, next)
             : fuse_add_direntry(req, buf.data() + used, room, name.c_str(), &entry.attr, next);
    if (need > room) return false;
    used += need;
    return true;
  };
  for (off_t pos = off; pos < kFirstEntryOffset; ++pos) {
    // "." and ".." carry no node id: the kernel takes no reference for them.
    fuse_entry_param dot{};
    dot.attr.st_mode = S_IFDIR;
    dot.attr.st_ino = pos == 0 ? dir->id : FUSE_ROOT_ID;
    if (!add(pos == 0 ? "." : "..", dot, pos + 1)) break;
  }
  const size_t first = off > kFirstEntryOffset ? static_cast<size_t>(off - kFirstEntryOffset) : 0;
  for (size_t i = first; i < listing->size(); ++i) {
    const ListedEntry& listed = (*listing)[i];
    const off_t next = static_cast<off_t>(i) + kFirstEntryOffset + 1;
    fuse_entry_param entry{};
    if (plus) {
      // Each entry is a full lookup (one kernel reference), so the kernel can skip the
      // LOOKUP round trip for every name `ls -l`, `find` or `grep -r` touches next.
      if (fs.lookup(*dir, listed.name, &entry) != 0) continue;  // vanished meanwhile
    } else {
      entry.attr.st_mode = listed.type;
      entry.attr.st_ino = std::hash<std::string>{}(listed.name) | 1;
    }
    if (!add(listed.name, entry, next)) {
      if (plus) fs.forget(entry.ino, 1);  // the kernel did not get this one
      break;
    }
  }
  fuse_reply_buf(req, buf.data(), used);
}

}  // namespace

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  reply_listing(req, ino, size, off, false);
}

void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  reply_listing(req, ino, size, off, true);
}

}  // namespace agentfense::fs
