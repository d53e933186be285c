// The table of inodes the kernel knows about, keyed by our own node ids (never host inode
// numbers) and by name within their directory, so repeated lookups of one name yield one
// node. Like the kernel's dentries, a node holds its name and its parent, not its path:
// what the table costs grows with the names the kernel knows, not with their depth.
//
// Its place in the fs lock order: see fs/filesystem.h. No syscall is made while mu_ is
// held except close() of fds being destroyed.
#pragma once

#include <array>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "fs/dir_fd_cache.h"
#include "fs/inode.h"

namespace agentfense::fs {

// A consistent snapshot of one inode plus what is needed to reach it on the host. Holding
// it keeps the inode, its parent and the directory fds below open, so the raw fd numbers
// stay valid for as long as the view lives (and no longer: a number copied out of a view
// must not outlive it).
struct NodeView {
  std::shared_ptr<Inode> inode;
  fuse_ino_t id = 0;
  std::string path;  // built from the names when the view was taken
  std::string name;
  mode_t type = 0;
  Layer layer = Layer::kBase;
  policy::Decision decision;
  bool traversable = false;
  bool unlinked = false;  // this node, or a directory above it, left the namespace
  int base_dir = -1;      // directories: own O_PATH fds
  int upper_dir = -1;
  std::shared_ptr<Inode> parent;
  int parent_base = -1;  // parent's O_PATH fds (the host location of this node)
  int parent_upper = -1;
  DirId base_id;  // directories: which host directories the fds above are
  DirId upper_id;
  // Owners of the fd numbers above: own base, own upper, parent's base, parent's upper.
  std::array<DirHandle, 4> owners;
  // Owners of fds a caller added with hold() (a directory copied up meanwhile).
  mutable std::vector<DirHandle> held;
  // Keeps `fd` open while this view lives; returns its number (-1 for null).
  int hold(DirHandle fd) const {
    if (!fd) return -1;
    held.push_back(fd);
    return fd->get();
  }

  bool is_dir() const { return S_ISDIR(type); }
  bool is_root() const { return id == FUSE_ROOT_ID; }
  // fd of the directory holding this node in its layer (root: -1).
  int host_parent() const { return layer == Layer::kUpper ? parent_upper : parent_base; }
};

// What a lookup found, to be remembered.
struct NewNode {
  std::string name;
  mode_t type = 0;
  Layer layer = Layer::kBase;
  policy::Decision decision;
  bool traversable = false;
  DirHandle base_dir;
  DirHandle upper_dir;
};

// The names of a node hard-linked in upper, and the upper host file they all are.
struct LinkGroup {
  struct Name {
    fuse_ino_t parent = 0;
    std::string name;
  };
  std::vector<Name> names;  // the host-access name first
  dev_t dev = 0;
  ino_t ino = 0;
};

// A node's new host location after the layers changed beneath it (node_rebind.h).
struct Rebinding {
  Layer layer = Layer::kBase;
  std::optional<DirHandle> base_dir;  // nullopt: keep; null: the node has none now
  std::optional<DirHandle> upper_dir;
};

class InodeTable {
 public:
  // `dir_fds`: how many directory fds to keep open between requests (dir_fd_cache.h).
  InodeTable(DirHandle base_root, DirHandle upper_root, policy::Decision root_decision,
             std::size_t dir_fds);
  InodeTable(const InodeTable&) = delete;
  InodeTable& operator=(const InodeTable&) = delete;

  // Views with every directory fd open (evicted ones are reopened). nullopt (errno set)
  // also when an evicted directory of a live node cannot be reopened as itself.
  std::optional<NodeView> view(fuse_ino_t id) const;
  // The live (not unlinked) node at `path`, if the kernel knows it.
  std::optional<NodeView> find_path(const std::string& path) const;
  // The live node named `name` in `parent`, if the kernel knows it.
  std::optional<NodeView> find_child(const NodeView& parent, const std::string& name) const;
  // A view for its names, decision and directory ids only: evicted fds stay -1.
  std::optional<NodeView> peek(fuse_ino_t id) const;

  // Registers the child (or refreshes the node already under that name) and counts one
  // kernel lookup reference.
  NodeView remember(const NodeView& parent, NewNode node);
  // True when that was the kernel's last reference: the node is gone.
  bool forget(fuse_ino_t id, std::uint64_t count);
  // Hard links (inode_links.cc). One more kernel reference to `id` under a further name
  // (link(2) made it, or a lookup found the same host file); a node whose names were all
  // removed gets this one as its own again. nullopt if the kernel already forgot `id`.
  std::optional<NodeView> add_name(fuse_ino_t id, const NodeView& parent, const std::string& name);
  // unlink of one name: another name takes over host access, or the node is unlinked.
  void remove_name(fuse_ino_t id, const NodeView& parent, const std::string& name);
  // The live node last registered for this upper host file (caller verifies it on the host).
  std::optional<NodeView> find_host_file(dev_t dev, ino_t ino) const;
  void set_host_file(fuse_ino_t id, dev_t dev, ino_t ino);
  // The names of `id` when it has more than one (a commit or discard may have made some
  // of them other files: node_rebind.cc).
  std::optional<LinkGroup> link_group(fuse_ino_t id) const;

  // Set-once upper directory (copy-up of a directory): returns the node's upper fd, `fd`
  // or one it already had.
  DirHandle adopt_upper_dir(fuse_ino_t id, DirHandle fd);
  void set_layer(fuse_ino_t id, Layer layer);
  // The name left the namespace: later lookups of the path create a fresh node.
  void mark_unlinked(fuse_ino_t id);
  // rename: the node's name `old_name` in `old_parent` (only that name of a hard-linked
  // file) becomes `new_name` in `new_parent`, replacing what was known there; known
  // descendants move with it.
  void move(fuse_ino_t id, const NodeView& old_parent, const std::string& old_name,
            const NodeView& new_parent, const std::string& new_name);

  // Every live (not unlinked) node at or under `path`, parents before children, as
  // peek() sees them (a whole tree's worth of fds is never opened at once).
  std::vector<NodeView> live_under(const std::string& path) const;
  // How many bytes the longest known name below directory `id` adds to its path ("/a/b"
  // below it adds 4; each of a hard-linked file's names counted); 0 when none is known.
  std::size_t longest_path_below(fuse_ino_t id) const;
  // Points a node at its current host entry and marks its listing stale. Requests still
  // using a replaced directory fd keep it open until they end.
  void rebind(fuse_ino_t id, Rebinding binding);

  // The cached listing; a stale one only when `allow_stale` (continuing a readdir).
  std::shared_ptr<const Listing> listing(fuse_ino_t id, bool allow_stale) const;
  void set_listing(fuse_ino_t id, std::shared_ptr<const Listing> listing);
  void invalidate_listing(fuse_ino_t id);

 private:
  // An evicted directory fd a snapshot needs.
  struct Evicted {
    std::shared_ptr<Inode> inode;
    bool upper = false;
    std::string path;
    DirId id;
  };
  // Where a node is now (requires mu_): its path, and whether it or a directory above it
  // left the namespace.
  struct Place {
    std::string path;
    bool gone = false;
  };
  static Place place_of(const Inode& inode);
  // The live node at `path` (requires mu_), or null.
  std::shared_ptr<Inode> at_path(std::string_view path) const;
  // The live node named `name` in `dir` (requires mu_), or null.
  std::shared_ptr<Inode> child_of(const Inode& dir, std::string_view name) const;
  // The node `id` (requires mu_), or null: a child entry never makes a lookup throw.
  std::shared_ptr<Inode> node_of(fuse_ino_t id) const;
  // Removes `dir`'s entry `name` if it still names node `id` (requires mu_ exclusively).
  static void erase_child(Inode* dir, const std::string& name, fuse_ino_t id);
  // Requires mu_. Evicted fds are left at -1 and listed in `evicted` (when given).
  NodeView snapshot(const std::shared_ptr<Inode>& inode, std::vector<Evicted>* evicted) const;
  // The same, for a node whose parent's place is known (a walk down the tree).
  NodeView snapshot(const std::shared_ptr<Inode>& inode, const Place& parent,
                    std::vector<Evicted>* evicted) const;
  // A snapshot of the node `find` returns (under mu_) with every fd open.
  std::optional<NodeView> opened(const std::function<std::shared_ptr<Inode>()>& find) const;
  // Sets a slot to `fd` and caches it; returns the evicted fds (close after unlocking).
  [[nodiscard]] std::vector<DirHandle> install(Inode::DirSlot& slot, DirHandle fd) const;
  // These require mu_ held exclusively.
  // The name `name` in `dir` of `inode` left the namespace; another name takes over host
  // access, or the node becomes unlinked.
  void unname(Inode& inode, Inode& dir, const std::string& name);
  void drop_names(Inode& inode);  // every children/by_host_ entry of `inode`

  mutable std::shared_mutex mu_;
  const DirHandle base_root_;  // the layers' roots, which evicted fds are reopened beneath
  const DirHandle upper_root_;
  mutable DirFdCache dir_fds_;
  fuse_ino_t next_id_ = FUSE_ROOT_ID + 1;
  std::unordered_map<fuse_ino_t, std::shared_ptr<Inode>> by_id_;
  std::map<std::pair<dev_t, ino_t>, fuse_ino_t> by_host_;  // hard-linked upper files
};

}  // namespace agentfense::fs
