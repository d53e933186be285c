#include "fs/presented_attr.h"

#include <algorithm>

namespace agentfense::fs {
namespace {

// 512-byte blocks of a dense file of `size` bytes in 4 KiB blocks, as most filesystems
// allocate one.
blkcnt_t dense_blocks(off_t size) {
  constexpr off_t kBlock = 4096;
  return static_cast<blkcnt_t>((size + kBlock - 1) / kBlock * (kBlock / 512));
}

}  // namespace

void present_attr(const NodeView& node, Owner owner, struct stat* st) {
  using policy::Level;
  st->st_ino = node.id;
  st->st_uid = owner.uid;
  st->st_gid = owner.gid;
  st->st_dev = 0;
  st->st_rdev = 0;
  // setuid/setgid never mean anything inside the sandbox; showing them would only invite
  // tools to try to preserve them.
  mode_t perm = st->st_mode & 07777 & ~(S_ISUID | S_ISGID);
  const Level level = node.decision.level;
  if (S_ISDIR(st->st_mode)) {
    st->st_nlink = 2;
    st->st_size = 4096;
    st->st_blocks = 8;
    if (level < Level::kRead) {
      perm = 0555;  // listable, only visible children are listed
    } else if (level == Level::kRead) {
      perm &= ~0222;
    }
    // A name in it may be created or removed (its own level decides, in the daemon), and
    // the kernel checks the parent's write bit before asking: keep that door open for
    // the owner (the agent). Group/other stay as they were: nobody else is in a sandbox.
    if (level < Level::kWrite && node.decision.children_may_be_writable) perm |= 0200;
  } else {
    // Names of a base file may be hidden: its host link count would prove they exist
    // (and that a `view` file has a readable one's content). Upper files hold only the
    // agent's own names (a hidden one cannot be made), so their real count stays, as
    // link(2) users expect. 0 stays 0: a removed file still open.
    if (node.layer == Layer::kBase) st->st_nlink = std::min<nlink_t>(st->st_nlink, 1);
    if (!S_ISLNK(st->st_mode)) {
      if (level <= Level::kView) {
        perm &= ~0666;
        // The host's allocation shows where the content is zero (holes); view reveals
        // the size, never the content.
        st->st_blocks = dense_blocks(st->st_size);
      } else if (level == Level::kRead) {
        perm &= ~0222;
      }
    }
  }
  st->st_mode = (st->st_mode & S_IFMT) | perm;
}

}  // namespace agentfense::fs
