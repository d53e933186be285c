#include "fs/inode_table.h"

#include <algorithm>
#include <mutex>
#include <vector>

namespace agentfense::fs {
namespace {

bool is_under(const std::string& path, const std::string& dir) {
  if (dir == "/") return path != "/";
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
         path[dir.size()] == '/';
}

}  // namespace

InodeTable::InodeTable(UniqueFd base_root, UniqueFd upper_root, policy::Decision root_decision) {
  auto root = std::make_shared<Inode>(FUSE_ROOT_ID);
  root->path = "/";
  root->type = S_IFDIR;
  root->layer = Layer::kUpper;
  root->decision = root_decision;
  root->traversable = true;  // the mount root is always shown
  root->nlookup = 1;         // the kernel never forgets the root
  root->base_dir = std::move(base_root);
  root->upper_dir = std::move(upper_root);
  by_path_["/"] = FUSE_ROOT_ID;
  by_id_[FUSE_ROOT_ID] = std::move(root);
}

NodeView InodeTable::snapshot(const std::shared_ptr<Inode>& inode) const {
  NodeView view;
  view.inode = inode;
  view.id = inode->id;
  view.path = inode->path;
  view.name = inode->name;
  view.type = inode->type;
  view.layer = inode->layer;
  view.decision = inode->decision;
  view.traversable = inode->traversable;
  view.unlinked = inode->unlinked;
  view.base_dir = inode->base_dir.get();
  view.upper_dir = inode->upper_dir.get();
  view.parent = inode->parent;
  if (view.parent) {
    view.parent_base = view.parent->base_dir.get();
    view.parent_upper = view.parent->upper_dir.get();
  }
  return view;
}

std::optional<NodeView> InodeTable::view(fuse_ino_t id) const {
  std::shared_lock lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  return snapshot(it->second);
}

std::optional<NodeView> InodeTable::find_path(const std::string& path) const {
  std::shared_lock lock(mu_);
  auto it = by_path_.find(path);
  if (it == by_path_.end()) return std::nullopt;
  return snapshot(by_id_.at(it->second));
}

NodeView InodeTable::remember(const NodeView& parent, NewNode node) {
  std::unique_lock lock(mu_);
  if (auto it = by_path_.find(node.path); it != by_path_.end()) {
    std::shared_ptr<Inode> known = by_id_.at(it->second);
    if ((known->type & S_IFMT) == (node.type & S_IFMT)) {
      ++known->nlookup;
      known->layer = node.layer;
      if (!known->base_dir && node.base_dir) known->base_dir = std::move(node.base_dir);
      if (!known->upper_dir && node.upper_dir) known->upper_dir = std::move(node.upper_dir);
      return snapshot(known);
    }
    // Same path, different type: the old node describes an entry that no longer exists.
    unname(*known, node.path);
  }
  auto inode = std::make_shared<Inode>(next_id_++);
  inode->path = std::move(node.path);
  inode->name = std::move(node.name);
  inode->parent = parent.inode;
  inode->type = node.type & S_IFMT;
  inode->layer = node.layer;
  inode->decision = node.decision;
  inode->traversable = node.traversable;
  inode->nlookup = 1;
  inode->base_dir = std::move(node.base_dir);
  inode->upper_dir = std::move(node.upper_dir);
  by_path_[inode->path] = inode->id;
  by_id_[inode->id] = inode;
  return snapshot(inode);
}

bool InodeTable::forget(fuse_ino_t id, std::uint64_t count) {
  std::shared_ptr<Inode> dying;  // destroyed (closing its fds) after the lock is released
  std::unique_lock lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end() || id == FUSE_ROOT_ID) return false;
  Inode& inode = *it->second;
  inode.nlookup = count >= inode.nlookup ? 0 : inode.nlookup - count;
  if (inode.nlookup > 0) return false;
  drop_names(inode);
  dying = std::move(it->second);
  by_id_.erase(it);
  lock.unlock();
  return true;
}

int InodeTable::adopt_upper_dir(fuse_ino_t id, UniqueFd fd) {
  std::unique_lock lock(mu_);
  Inode& inode = *by_id_.at(id);
  if (!inode.upper_dir) inode.upper_dir = std::move(fd);
  inode.layer = Layer::kUpper;
  return inode.upper_dir.get();
}

void InodeTable::set_layer(fuse_ino_t id, Layer layer) {
  std::unique_lock lock(mu_);
  if (auto it = by_id_.find(id); it != by_id_.end()) it->second->layer = layer;
}

void InodeTable::mark_unlinked(fuse_ino_t id) {
  std::unique_lock lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  it->second->unlinked = true;
  drop_names(*it->second);
}

void InodeTable::move(fuse_ino_t id, const std::string& old_path, const NodeView& new_parent,
                      const std::string& new_name, const std::string& new_path) {
  std::unique_lock lock(mu_);
  std::shared_ptr<Inode> moving = by_id_.at(id);
  // Whatever was at the destination (and below it) has been replaced.
  std::vector<std::pair<std::string, fuse_ino_t>> replaced;
  for (const auto& [path, node_id] : by_path_) {
    if (node_id != id && (path == new_path || is_under(path, new_path))) {
      replaced.emplace_back(path, node_id);
    }
  }
  for (const auto& [path, node_id] : replaced) unname(*by_id_.at(node_id), path);
  if (old_path != moving->path) {
    // Another name of a hard-linked file: only that name moves.
    for (Inode::OtherName& other : moving->other_names) {
      if (other.path != old_path) continue;
      by_path_.erase(old_path);
      other = {new_path, new_name, new_parent.inode};
      by_path_[new_path] = id;
    }
    return;
  }
  auto renamed = [&](const std::string& path) { return new_path + path.substr(old_path.size()); };
  for (const auto& [node_id, inode] : by_id_) {
    if (inode->unlinked) continue;
    if (inode == moving || is_under(inode->path, old_path)) {
      by_path_.erase(inode->path);
      inode->path = renamed(inode->path);
      by_path_[inode->path] = inode->id;
    }
    for (Inode::OtherName& other : inode->other_names) {
      if (!is_under(other.path, old_path)) continue;
      by_path_.erase(other.path);
      other.path = renamed(other.path);
      by_path_[other.path] = inode->id;
    }
  }
  moving->name = new_name;
  moving->parent = new_parent.inode;
}

std::vector<NodeView> InodeTable::live_under(const std::string& path) const {
  std::vector<NodeView> views;
  {
    std::shared_lock lock(mu_);
    for (const auto& [node_path, id] : by_path_) {
      if (node_path == path || is_under(node_path, path)) views.push_back(snapshot(by_id_.at(id)));
    }
  }
  // A parent's path is a prefix of its children's, so it sorts first.
  std::sort(views.begin(), views.end(),
            [](const NodeView& a, const NodeView& b) { return a.path < b.path; });
  return views;
}

void InodeTable::rebind(fuse_ino_t id, Rebinding binding) {
  std::unique_lock lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  Inode& inode = *it->second;
  auto replace = [&inode](UniqueFd& slot, std::optional<UniqueFd>& fresh) {
    if (!fresh) return;
    // Requests still running may hold the old number in a NodeView.
    if (slot) inode.retired_dirs.push_back(std::move(slot));
    slot = std::move(*fresh);
  };
  replace(inode.base_dir, binding.base_dir);
  replace(inode.upper_dir, binding.upper_dir);
  inode.layer = binding.layer;
  inode.listing_stale = true;
}

std::shared_ptr<const Listing> InodeTable::listing(fuse_ino_t id, bool allow_stale) const {
  std::shared_lock lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end() || (it->second->listing_stale && !allow_stale)) return nullptr;
  return it->second->listing;
}

void InodeTable::set_listing(fuse_ino_t id, std::shared_ptr<const Listing> listing) {
  std::unique_lock lock(mu_);
  if (auto it = by_id_.find(id); it != by_id_.end()) {
    it->second->listing = std::move(listing);
    it->second->listing_stale = false;
  }
}

void InodeTable::invalidate_listing(fuse_ino_t id) {
  std::unique_lock lock(mu_);
  if (auto it = by_id_.find(id); it != by_id_.end()) it->second->listing_stale = true;
}

}  // namespace agentfense::fs
