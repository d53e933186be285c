#include "fs/inode_table.h"

#include <algorithm>
#include <cerrno>
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

InodeTable::InodeTable(DirHandle base_root, DirHandle upper_root, policy::Decision root_decision,
                       std::size_t dir_fds)
    : base_root_(std::move(base_root)), upper_root_(std::move(upper_root)), dir_fds_(dir_fds) {
  auto root = std::make_shared<Inode>(FUSE_ROOT_ID);
  root->path = "/";
  root->type = S_IFDIR;
  root->layer = Layer::kUpper;
  root->decision = root_decision;
  root->traversable = true;  // the mount root is always shown
  root->nlookup = 1;         // the kernel never forgets the root
  for (auto [slot, fd] :
       {std::pair{&root->base_dir, base_root_}, {&root->upper_dir, upper_root_}}) {
    if (!fd) continue;
    slot->id = fd->id;
    slot->open = fd;
    slot->pinned = fd;
  }
  by_path_["/"] = FUSE_ROOT_ID;
  by_id_[FUSE_ROOT_ID] = std::move(root);
}

namespace {

// The open fd of one directory slot, or null (noted in `evicted` unless the owner is
// unlinked: its path no longer leads to it, so it is not reopened).
template <typename Evicted>
DirHandle open_fd(const std::shared_ptr<Inode>& owner, const Inode::DirSlot& slot, bool upper,
                  std::vector<Evicted>* evicted) {
  if (!slot.id.present) return nullptr;
  DirHandle fd = slot.open.lock();
  if (fd) {
    fd->used.store(true, std::memory_order_relaxed);
  } else if (evicted && !owner->unlinked) {
    evicted->push_back({owner, upper, owner->path, slot.id});
  }
  return fd;
}

}  // namespace

NodeView InodeTable::snapshot(const std::shared_ptr<Inode>& inode,
                              std::vector<Evicted>* evicted) const {
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
  view.base_id = inode->base_dir.id;
  view.upper_id = inode->upper_dir.id;
  auto number = [](const DirHandle& fd) { return fd ? fd->get() : -1; };
  view.owners[0] = open_fd(inode, inode->base_dir, false, evicted);
  view.owners[1] = open_fd(inode, inode->upper_dir, true, evicted);
  view.base_dir = number(view.owners[0]);
  view.upper_dir = number(view.owners[1]);
  view.parent = inode->parent;
  if (view.parent) {
    view.owners[2] = open_fd(view.parent, view.parent->base_dir, false, evicted);
    view.owners[3] = open_fd(view.parent, view.parent->upper_dir, true, evicted);
    view.parent_base = number(view.owners[2]);
    view.parent_upper = number(view.owners[3]);
  }
  return view;
}

std::vector<DirHandle> InodeTable::install(Inode::DirSlot& slot, DirHandle fd) const {
  DirHandle old = slot.open.lock();
  slot.id = fd ? fd->id : DirId{};
  slot.open = fd;
  std::vector<DirHandle> closing = dir_fds_.keep(std::move(fd));
  if (old && old != slot.open.lock()) closing.push_back(dir_fds_.drop(old.get()));
  closing.push_back(std::move(old));
  return closing;
}

std::optional<NodeView> InodeTable::opened(
    const std::function<std::shared_ptr<Inode>()>& find) const {
  // A reopened fd is kept here until the view holds it, so the cache cannot evict it in
  // between. Rarely more than one round: another round only when a rename moved the
  // node while its fd was being reopened.
  constexpr int kRounds = 3;
  std::vector<DirHandle> reopened;
  for (int round = 0;; ++round) {
    std::vector<Evicted> evicted;
    std::optional<NodeView> view;
    {
      const std::shared_lock lock(mu_);
      const std::shared_ptr<Inode> inode = find();
      if (!inode) return std::nullopt;
      view = snapshot(inode, &evicted);
    }
    if (evicted.empty()) return view;
    if (round == kRounds) {
      errno = ESTALE;
      return std::nullopt;
    }
    for (const Evicted& want : evicted) {
      const DirHandle& root = want.upper ? upper_root_ : base_root_;
      DirHandle fd = root ? reopen_dir(root->get(), want.path, want.id) : nullptr;
      if (!fd) {
        // The path may have moved on (a rename): the next round reads it afresh.
        if (errno == ENOENT || errno == ESTALE || errno == ENOTDIR) continue;
        return std::nullopt;
      }
      std::vector<DirHandle> closing;  // destroyed after the lock is released
      const std::unique_lock lock(mu_);
      Inode::DirSlot& slot = want.upper ? want.inode->upper_dir : want.inode->base_dir;
      if (slot.id == fd->id && slot.open.expired()) closing = install(slot, fd);
      reopened.push_back(std::move(fd));
    }
  }
}

std::optional<NodeView> InodeTable::view(fuse_ino_t id) const {
  return opened([&]() -> std::shared_ptr<Inode> {
    auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : it->second;
  });
}

std::optional<NodeView> InodeTable::find_path(const std::string& path) const {
  return opened([&]() -> std::shared_ptr<Inode> {
    auto it = by_path_.find(path);
    return it == by_path_.end() ? nullptr : by_id_.at(it->second);
  });
}

std::optional<NodeView> InodeTable::peek(fuse_ino_t id) const {
  const std::shared_lock lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  return snapshot(it->second, nullptr);
}

NodeView InodeTable::remember(const NodeView& parent, NewNode node) {
  std::vector<DirHandle> closing;  // destroyed after the lock is released
  std::unique_lock lock(mu_);
  // A known node takes the fd for a layer it had none in, or to replace an evicted one.
  // `node` keeps its copy until the snapshot below holds it.
  auto adopt = [&](Inode::DirSlot& slot, const DirHandle& fd) {
    if (!fd || (slot.id.present && (slot.id != fd->id || !slot.open.expired()))) return;
    for (DirHandle& gone : install(slot, fd)) closing.push_back(std::move(gone));
  };
  if (auto it = by_path_.find(node.path); it != by_path_.end()) {
    std::shared_ptr<Inode> known = by_id_.at(it->second);
    if ((known->type & S_IFMT) == (node.type & S_IFMT)) {
      ++known->nlookup;
      known->layer = node.layer;
      adopt(known->base_dir, node.base_dir);
      adopt(known->upper_dir, node.upper_dir);
      return snapshot(known, nullptr);
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
  adopt(inode->base_dir, node.base_dir);
  adopt(inode->upper_dir, node.upper_dir);
  by_path_[inode->path] = inode->id;
  by_id_[inode->id] = inode;
  return snapshot(inode, nullptr);
}

bool InodeTable::forget(fuse_ino_t id, std::uint64_t count) {
  std::vector<DirHandle> closing;  // closed after the lock is released
  std::shared_ptr<Inode> dying;
  std::unique_lock lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end() || id == FUSE_ROOT_ID) return false;
  Inode& inode = *it->second;
  inode.nlookup = count >= inode.nlookup ? 0 : inode.nlookup - count;
  if (inode.nlookup > 0) return false;
  drop_names(inode);
  for (const Inode::DirSlot* slot : {&inode.base_dir, &inode.upper_dir}) {
    if (DirHandle fd = slot->open.lock()) closing.push_back(dir_fds_.drop(fd.get()));
  }
  dying = std::move(it->second);
  by_id_.erase(it);
  lock.unlock();
  return true;
}

DirHandle InodeTable::adopt_upper_dir(fuse_ino_t id, DirHandle fd) {
  std::vector<DirHandle> closing;  // destroyed after the lock is released
  std::unique_lock lock(mu_);
  Inode& inode = *by_id_.at(id);
  inode.layer = Layer::kUpper;
  if (!inode.upper_dir.id.present) {
    closing = install(inode.upper_dir, fd);
    return fd;
  }
  if (DirHandle current = inode.upper_dir.open.lock()) return current;
  if (inode.upper_dir.id == fd->id) closing = install(inode.upper_dir, fd);
  return fd;
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
  // Whatever was at the destination has been replaced. Only a directory can have known
  // names below it (an empty one can be replaced, and the table may still hold names the
  // kernel has not forgotten), so only then is the whole table searched: a file's
  // rename (an editor's atomic save, git's objects) costs a lookup, not a scan.
  std::vector<std::pair<std::string, fuse_ino_t>> replaced;
  if (auto at = by_path_.find(new_path); at != by_path_.end() && at->second != id) {
    replaced.emplace_back(new_path, at->second);
    if (by_id_.at(at->second)->type == S_IFDIR) {
      for (const auto& [path, node_id] : by_path_)
        if (node_id != id && is_under(path, new_path)) replaced.emplace_back(path, node_id);
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
  if (moving->type != S_IFDIR) {
    // Nothing is known below a file: only its own name moves.
    by_path_.erase(old_path);
    moving->path = new_path;
    by_path_[new_path] = id;
  } else {
    // Every known descendant moves with a directory (a scan: directory renames are rare).
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
  }
  moving->name = new_name;
  moving->parent = new_parent.inode;
}

std::vector<NodeView> InodeTable::live_under(const std::string& path) const {
  std::vector<NodeView> views;
  {
    std::shared_lock lock(mu_);
    for (const auto& [node_path, id] : by_path_) {
      if (node_path == path || is_under(node_path, path)) {
        views.push_back(snapshot(by_id_.at(id), nullptr));
      }
    }
  }
  // A parent's path is a prefix of its children's, so it sorts first.
  std::sort(views.begin(), views.end(),
            [](const NodeView& a, const NodeView& b) { return a.path < b.path; });
  return views;
}

std::size_t InodeTable::longest_name_under(const std::string& path) const {
  std::size_t longest = 0;
  std::shared_lock lock(mu_);
  for (const auto& [name_path, id] : by_path_) {
    if (name_path == path || is_under(name_path, path))
      longest = std::max(longest, name_path.size());
  }
  return longest;
}

void InodeTable::rebind(fuse_ino_t id, Rebinding binding) {
  std::vector<DirHandle> closing;  // destroyed after the lock is released
  std::unique_lock lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  Inode& inode = *it->second;
  auto replace = [&](Inode::DirSlot& slot, std::optional<DirHandle>& fresh) {
    if (!fresh) return;
    for (DirHandle& gone : install(slot, std::move(*fresh))) closing.push_back(std::move(gone));
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
