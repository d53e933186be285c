#include "fs/inode_table.h"

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <vector>

#include "fs/workspace_path.h"
#include "layer/safe_walk.h"

namespace agentfense::fs {
namespace {

// More levels than any path the fs serves can have (each adds at least "/x"): a walk up
// that goes on is a broken table, not a path.
constexpr std::size_t kMaxLevels = kMaxWorkspacePath / 2 + 1;

}  // namespace

InodeTable::InodeTable(DirHandle base_root, DirHandle upper_root, policy::Decision root_decision,
                       std::size_t dir_fds)
    : base_root_(std::move(base_root)), upper_root_(std::move(upper_root)), dir_fds_(dir_fds) {
  auto root = std::make_shared<Inode>(FUSE_ROOT_ID);
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
  by_id_[FUSE_ROOT_ID] = std::move(root);
}

namespace {

// The open fd of one directory slot, or null (noted in `evicted` unless its owner left
// the namespace: its path no longer leads to it, so it is not reopened).
template <typename Evicted>
DirHandle open_fd(const std::shared_ptr<Inode>& owner, const std::string& owner_path,
                  bool owner_gone, const Inode::DirSlot& slot, bool upper,
                  std::vector<Evicted>* evicted) {
  if (!slot.id.present) return nullptr;
  DirHandle fd = slot.open.lock();
  if (fd) {
    fd->used.store(true, std::memory_order_relaxed);
  } else if (evicted && !owner_gone) {
    evicted->push_back({owner, upper, owner_path, slot.id});
  }
  return fd;
}

}  // namespace

InodeTable::Place InodeTable::place_of(const Inode& inode) {
  Place place;
  std::size_t size = 0;
  std::size_t levels = 0;
  for (const Inode* at = &inode; at->parent; at = at->parent.get()) {
    if (++levels > kMaxLevels) return {"/", true};
    size += 1 + at->name.size();
    place.gone = place.gone || at->unlinked;
  }
  if (levels == 0) {
    place.path = "/";
    return place;
  }
  // Filled from its end: the node's name last, its ancestors' before it.
  place.path.resize(size);
  std::size_t end = size;
  for (const Inode* at = &inode; at->parent; at = at->parent.get()) {
    end -= at->name.size();
    at->name.copy(place.path.data() + end, at->name.size());
    place.path[--end] = '/';
  }
  return place;
}

std::shared_ptr<Inode> InodeTable::node_of(fuse_ino_t id) const {
  auto node = by_id_.find(id);
  return node == by_id_.end() ? nullptr : node->second;
}

std::shared_ptr<Inode> InodeTable::child_of(const Inode& dir, std::string_view name) const {
  // Every entry names a known node (forget drops a node's names).
  auto it = dir.children.find(name);
  return it == dir.children.end() ? nullptr : node_of(it->second);
}

void InodeTable::erase_child(Inode* dir, const std::string& name, fuse_ino_t id) {
  if (!dir) return;
  if (auto it = dir->children.find(name); it != dir->children.end() && it->second == id) {
    dir->children.erase(it);
  }
}

std::shared_ptr<Inode> InodeTable::at_path(std::string_view path) const {
  std::shared_ptr<Inode> at = by_id_.at(FUSE_ROOT_ID);
  std::size_t start = 1;
  while (at && start < path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    at = child_of(*at, path.substr(start, end - start));
    start = end + 1;
  }
  return at;
}

NodeView InodeTable::snapshot(const std::shared_ptr<Inode>& inode,
                              std::vector<Evicted>* evicted) const {
  return snapshot(inode, inode->parent ? place_of(*inode->parent) : Place{}, evicted);
}

NodeView InodeTable::snapshot(const std::shared_ptr<Inode>& inode, const Place& parent,
                              std::vector<Evicted>* evicted) const {
  NodeView view;
  view.inode = inode;
  view.id = inode->id;
  view.path = inode->parent ? layer::child_path(parent.path, inode->name) : "/";
  view.name = inode->name;
  view.type = inode->type;
  view.layer = inode->layer;
  view.decision = inode->decision;
  view.traversable = inode->traversable;
  view.unlinked = inode->unlinked || parent.gone;
  view.base_id = inode->base_dir.id;
  view.upper_id = inode->upper_dir.id;
  auto number = [](const DirHandle& fd) { return fd ? fd->get() : -1; };
  view.owners[0] = open_fd(inode, view.path, view.unlinked, inode->base_dir, false, evicted);
  view.owners[1] = open_fd(inode, view.path, view.unlinked, inode->upper_dir, true, evicted);
  view.base_dir = number(view.owners[0]);
  view.upper_dir = number(view.owners[1]);
  view.parent = inode->parent;
  if (view.parent) {
    view.owners[2] =
        open_fd(view.parent, parent.path, parent.gone, view.parent->base_dir, false, evicted);
    view.owners[3] =
        open_fd(view.parent, parent.path, parent.gone, view.parent->upper_dir, true, evicted);
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
  return opened([&] { return at_path(path); });
}

std::optional<NodeView> InodeTable::find_child(const NodeView& parent,
                                               const std::string& name) const {
  return opened([&] { return child_of(*parent.inode, name); });
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
  Inode& dir = *parent.inode;
  if (std::shared_ptr<Inode> known = child_of(dir, node.name)) {
    if ((known->type & S_IFMT) == (node.type & S_IFMT)) {
      ++known->nlookup;
      known->layer = node.layer;
      adopt(known->base_dir, node.base_dir);
      adopt(known->upper_dir, node.upper_dir);
      return snapshot(known, nullptr);
    }
    // Same name, different type: the old node describes an entry that no longer exists.
    unname(*known, dir, node.name);
  }
  auto inode = std::make_shared<Inode>(next_id_++);
  inode->name = std::move(node.name);
  inode->parent = parent.inode;
  inode->type = node.type & S_IFMT;
  inode->layer = node.layer;
  inode->decision = node.decision;
  inode->traversable = node.traversable;
  inode->nlookup = 1;
  adopt(inode->base_dir, node.base_dir);
  adopt(inode->upper_dir, node.upper_dir);
  dir.children[inode->name] = inode->id;
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

void InodeTable::move(fuse_ino_t id, const NodeView& old_parent, const std::string& old_name,
                      const NodeView& new_parent, const std::string& new_name) {
  std::unique_lock lock(mu_);
  std::shared_ptr<Inode> moving = by_id_.at(id);
  Inode& from = *old_parent.inode;
  Inode& to = *new_parent.inode;
  // Whatever was at the destination has been replaced. Names known below a replaced
  // directory (an empty one can be replaced, and the kernel may not have forgotten them
  // yet) go with it: they are reached only through it.
  if (std::shared_ptr<Inode> replaced = child_of(to, new_name); replaced && replaced != moving) {
    unname(*replaced, to, new_name);
  }
  erase_child(&from, old_name, id);
  to.children[new_name] = id;
  if (moving->parent.get() == &from && moving->name == old_name) {
    // Known descendants move with a directory: their parent links are unchanged.
    moving->name = new_name;
    moving->parent = new_parent.inode;
    return;
  }
  // Another name of a hard-linked file: only that name moves.
  for (Inode::OtherName& other : moving->other_names) {
    if (other.parent.get() == &from && other.name == old_name) {
      other = {new_name, new_parent.inode};
      return;
    }
  }
}

std::vector<NodeView> InodeTable::live_under(const std::string& path) const {
  std::vector<NodeView> views;
  std::shared_lock lock(mu_);
  std::shared_ptr<Inode> top = at_path(path);
  if (!top) return views;
  views.push_back(snapshot(top, nullptr));
  // Breadth first, so parents come before children; a child's place is its parent's.
  for (std::size_t next = 0; next < views.size(); ++next) {
    if (!views[next].is_dir()) continue;
    const Place place{views[next].path, views[next].unlinked};
    for (const auto& [name, child] : views[next].inode->children) {
      if (std::shared_ptr<Inode> node = node_of(child)) {
        views.push_back(snapshot(node, place, nullptr));
      }
    }
  }
  return views;
}

std::size_t InodeTable::longest_path_below(fuse_ino_t id) const {
  std::shared_lock lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return 0;
  std::size_t longest = 0;
  std::vector<std::pair<const Inode*, std::size_t>> pending{{it->second.get(), 0}};
  while (!pending.empty()) {
    const auto [dir, below] = pending.back();
    pending.pop_back();
    for (const auto& [name, child] : dir->children) {
      const std::size_t length = below + 1 + name.size();
      longest = std::max(longest, length);
      const std::shared_ptr<Inode> node = node_of(child);
      if (node && node->type == S_IFDIR) pending.emplace_back(node.get(), length);
    }
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
