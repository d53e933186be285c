// One node of the presented tree. Inodes are shared_ptr-owned by the InodeTable; request
// handlers work on NodeView snapshots (inode_table.h) so they never read a field while a
// rename is rewriting it.
#pragma once

#include <fuse_lowlevel.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "fs/dir_handle.h"
#include "policy/policy.h"

namespace agentfense::fs {

// Where a node's data lives. A directory is kUpper as soon as it has an upper dir, even if
// the base also contributes entries (a merged directory).
enum class Layer : std::uint8_t { kBase, kUpper };

// One entry of a merged, policy-filtered directory listing.
struct ListedEntry {
  std::string name;
  mode_t type;  // S_IFMT bits
};
using Listing = std::vector<ListedEntry>;

struct Inode {
  explicit Inode(fuse_ino_t node_id) : id(node_id) {}
  Inode(const Inode&) = delete;
  Inode& operator=(const Inode&) = delete;

  const fuse_ino_t id;

  // Everything below is guarded by InodeTable's mutex.
  // The name host access goes through and the directory holding it (the root has
  // neither). A node's workspace path is built from these when a request needs it: a
  // node costs its name, not its path (an agent's deep chain would cost quadratic memory).
  std::string name;
  std::shared_ptr<Inode> parent;
  mode_t type = 0;
  Layer layer = Layer::kBase;
  policy::Decision decision;  // decided once per inode (paths of kept inodes are stable)
  bool traversable = false;   // kNone/kView dir shown because a visible descendant exists
  bool unlinked = false;      // removed from the namespace; kept until the kernel forgets
  std::uint64_t nlookup = 0;
  // A regular file hard-linked in the upper layer (link(2) in the sandbox) is one node
  // with several names, so the kernel keeps one page cache for all of them. Host access
  // goes through name/parent above; these are the others (inode_links.cc).
  struct OtherName {
    std::string name;
    std::shared_ptr<Inode> parent;
  };
  std::vector<OtherName> other_names;
  // Directories: every live name in it the kernel knows (each name of a hard-linked file
  // included), to its node. Names of forgotten or unlinked nodes are not here.
  std::map<std::string, fuse_ino_t, std::less<>> children;
  // Host identity of such a file, so a separate lookup of another name finds this node.
  dev_t host_dev = 0;
  ino_t host_ino = 0;
  // Directories only: which host directory the node is in each layer, and its O_PATH fd
  // while DirFdCache keeps it open (dir_handle.h). A commit or refresh that rebinds the
  // node to other host directories replaces these; requests still running keep the old
  // fds alive through their NodeView.
  struct DirSlot {
    DirId id;                         // id.present false: no directory in this layer
    std::weak_ptr<const DirFd> open;  // expired: evicted, reopened on the next use
    DirHandle pinned;                 // the root's, never evicted
  };
  DirSlot base_dir;  // absent when the base has no such dir or the dir is opaque
  DirSlot upper_dir;
  std::shared_ptr<const Listing> listing;  // cached merged+filtered children
  // A changed directory keeps its old listing for readdir calls that continue a listing
  // (offset > 0), so `rm -r` deleting as it reads never sees entries shift under it.
  bool listing_stale = false;
  // Not guarded (atomics): the content epoch + 1 at which the base directory above
  // (inode number `plain_base_ino`) was found not to fold names (base_names.h), so a
  // lookup in it asks nothing more; 0: not known.
  std::atomic<std::uint64_t> plain_base_epoch{0};
  std::atomic<ino_t> plain_base_ino{0};
};

}  // namespace agentfense::fs
