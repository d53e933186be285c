// Hard links. A regular file linked in the upper layer keeps ONE node for all of its
// names, so the kernel keeps one inode and one page cache for it: with a node per name,
// data written through one name was read back stale through the other. It also keeps a
// file reachable after the name it was created under is removed (git writes each object
// to a temporary name, links the final name, then unlinks the temporary one).
//
// The node's name/parent is the name host access goes through; further names live
// in Inode::other_names. Removing that name hands host access to another one.
#include <mutex>
#include <shared_mutex>

#include "fs/inode_table.h"

namespace agentfense::fs {

std::optional<NodeView> InodeTable::add_name(fuse_ino_t id, const NodeView& parent,
                                             const std::string& name) {
  std::unique_lock lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  Inode& inode = *it->second;
  Inode& dir = *parent.inode;
  if (std::shared_ptr<Inode> there = child_of(dir, name); there && there->id != id) {
    unname(*there, dir, name);  // that entry was replaced on the host
  }
  ++inode.nlookup;
  if (!dir.children.contains(name)) {
    if (inode.unlinked) {
      // Every earlier name is gone, but the host file lives on under this one.
      inode.unlinked = false;
      inode.name = name;
      inode.parent = parent.inode;
    } else {
      inode.other_names.push_back({name, parent.inode});
    }
    dir.children[name] = id;
  }
  return snapshot(it->second, nullptr);  // for its attributes: evicted fds stay -1
}

void InodeTable::remove_name(fuse_ino_t id, const NodeView& parent, const std::string& name) {
  std::unique_lock lock(mu_);
  if (auto it = by_id_.find(id); it != by_id_.end()) unname(*it->second, *parent.inode, name);
}

std::optional<NodeView> InodeTable::find_host_file(dev_t dev, ino_t ino) const {
  return opened([&]() -> std::shared_ptr<Inode> {
    auto it = by_host_.find({dev, ino});
    if (it == by_host_.end()) return nullptr;
    const std::shared_ptr<Inode>& inode = by_id_.at(it->second);
    return inode->unlinked ? nullptr : inode;
  });
}

void InodeTable::set_host_file(fuse_ino_t id, dev_t dev, ino_t ino) {
  std::unique_lock lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  it->second->host_dev = dev;
  it->second->host_ino = ino;
  by_host_[{dev, ino}] = id;
}

std::optional<LinkGroup> InodeTable::link_group(fuse_ino_t id) const {
  std::shared_lock lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end() || it->second->other_names.empty()) return std::nullopt;
  const Inode& inode = *it->second;
  LinkGroup group{
      .names = {{inode.parent->id, inode.name}}, .dev = inode.host_dev, .ino = inode.host_ino};
  for (const Inode::OtherName& other : inode.other_names)
    group.names.push_back({other.parent->id, other.name});
  return group;
}

void InodeTable::unname(Inode& inode, Inode& dir, const std::string& name) {
  erase_child(&dir, name, inode.id);
  if (inode.parent.get() != &dir || inode.name != name) {
    std::erase_if(inode.other_names, [&](const Inode::OtherName& other) {
      return other.parent.get() == &dir && other.name == name;
    });
    return;
  }
  if (inode.other_names.empty()) {
    // Name and parent stay: they still say where the node was, for its path.
    inode.unlinked = true;
    drop_names(inode);
    return;
  }
  Inode::OtherName next = std::move(inode.other_names.back());
  inode.other_names.pop_back();
  inode.name = std::move(next.name);
  inode.parent = std::move(next.parent);
}

void InodeTable::drop_names(Inode& inode) {
  erase_child(inode.parent.get(), inode.name, inode.id);
  for (const Inode::OtherName& other : inode.other_names) {
    erase_child(other.parent.get(), other.name, inode.id);
  }
  inode.other_names.clear();
  if (auto h = by_host_.find({inode.host_dev, inode.host_ino});
      h != by_host_.end() && h->second == inode.id) {
    by_host_.erase(h);
  }
}

}  // namespace agentfense::fs
