#include "fs/node_rebind.h"

#include <optional>
#include <set>

#include "fs/host_io.h"
#include "layer/safe_walk.h"

namespace agentfense::fs {
namespace {

std::string parent_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == 0 ? "/" : path.substr(0, slash);
}

// The directory a node should have in one layer: nullopt keeps `current` (still the same
// host directory), a null handle drops it, otherwise a freshly opened one.
std::optional<DirHandle> fresh_dir_fd(const DirId& current, int parent_fd, const std::string& name,
                                      bool wanted) {
  if (!wanted) return current.present ? std::optional<DirHandle>(DirHandle()) : std::nullopt;
  struct stat st;
  if (current.present && stat_at(parent_fd, name, &st) == 0 && st.st_dev == current.dev &&
      st.st_ino == current.ino) {
    return std::nullopt;
  }
  // Null on a race with a concurrent change.
  return make_dir_handle(open_dir_path(parent_fd, name));
}

class Rebinder {
 public:
  Rebinder(Filesystem& fs, const std::vector<std::string>& roots,
           const std::vector<std::string>& changed_paths)
      : fs_(fs),
        roots_(roots.begin(), roots.end()),
        changed_(changed_paths.begin(), changed_paths.end()) {}

  void rebind_under(const std::string& root) {
    std::vector<NodeView> others;
    for (NodeView& node : fs_.table().live_under(root)) {
      if (node.is_root()) continue;
      if (node.is_dir()) {
        rebind(node);
      } else {
        others.push_back(std::move(node));
      }
    }
    // After every directory: a name is checked through its rebound parent.
    std::set<fuse_ino_t> linked;
    for (const NodeView& node : others) {
      std::optional<LinkGroup> group;
      if (S_ISREG(node.type)) group = fs_.table().link_group(node.id);
      if (!group) {
        rebind(node);
      } else if (linked.insert(node.id).second) {
        split_link_group(node.id, *group);
        // Fresh: its host-access name may have changed.
        if (std::optional<NodeView> fresh = fs_.table().peek(node.id); fresh && !fresh->unlinked)
          rebind(*fresh);
      }
    }
  }

  void note_changed(const std::string& path) {
    if (path == "/") {
      fs_.table().invalidate_listing(FUSE_ROOT_ID);
      notices_.inodes.push_back(FUSE_ROOT_ID);
      return;
    }
    // The kernel holds nothing below a directory it does not know, but may hold that
    // directory's negative dentry: one below view was hidden until this change put
    // something visible in it. So the name dropped is the top unknown one.
    std::string name_path = path;
    std::optional<NodeView> parent = fs_.table().find_path(parent_of(name_path));
    while (!parent && parent_of(name_path) != "/") {
      name_path = parent_of(name_path);
      parent = fs_.table().find_path(parent_of(name_path));
    }
    // Nor below one that was replaced (unlinked: its own entry is dropped) or is no
    // directory now (a symlink that replaced it; telling the kernel about a child of it
    // fails with ENOTDIR).
    if (!parent || parent->unlinked || !parent->is_dir()) return;
    const bool below_unknown = name_path != path;
    if (below_unknown && !may_have_appeared(name_path)) return;
    fs_.table().invalidate_listing(parent->id);
    notices_.inodes.push_back(parent->id);  // its cached listing pages
    if (below_unknown || !fs_.table().find_path(path)) {
      // Possibly a negative dentry, cached for kCacheTimeoutSeconds.
      notices_.entries.emplace_back(parent->id, name_path.substr(name_path.rfind('/') + 1));
    }
  }

  // A directory below view is shown only while it holds a visible descendant. One the
  // kernel knows that lost its last (another sandbox's commit removed it, a discard took
  // back the agent's file) leaves the namespace as a removed one does: its cached dentry
  // would otherwise go on answering stat, telling a hidden directory from an absent one,
  // with the host directory's fresh times (activity inside it). Call after the visible-
  // below answers were dropped; parents come first, so a hidden tree goes at its top.
  void hide_emptied() {
    for (const NodeView& known : fs_.table().live_under("/")) {
      if (known.is_root() || !known.is_dir() || known.decision.level >= policy::Level::kView)
        continue;
      // Only a change at, above or below a directory can take its last visible entry:
      // the others keep their answer without a scan (a commit after every command must
      // not read every hidden directory the agent ever looked into).
      if (!touches(changed_, known.path) && !touches(roots_, known.path)) continue;
      // Fresh, with fds: a directory above may have been hidden a moment ago.
      const std::optional<NodeView> dir = fs_.table().view(known.id);
      if (!dir || dir->unlinked || fs_.still_shown(*dir)) continue;
      unlink(*dir);
      if (!dir->parent) continue;
      fs_.table().invalidate_listing(dir->parent->id);  // it is listed there no more
      notices_.inodes.push_back(dir->parent->id);
    }
  }

  KernelNotices take() { return std::move(notices_); }

 private:
  // Whether the unknown directory at `path`, with a change below it, may be shown now
  // though it was not before: one below view whose rules let a descendant be visible.
  bool may_have_appeared(const std::string& path) const {
    const policy::Decision decision = fs_.access().policy().decide(path, true);
    return decision.level < policy::Level::kView && decision.descendants_may_be_visible;
  }

  // Whether `path` is one of the changed paths or below one (content may differ even
  // where the node's binding does not, e.g. a base file rewritten in place).
  bool in_changed(std::string path) const {
    while (true) {
      if (changed_.contains(path)) return true;
      if (path == "/") return false;
      path = parent_of(path);
    }
  }

  void rebind(const NodeView& node) {
    // Fresh: the parent was rebound first (live_under sorts parents first).
    const std::optional<NodeView> parent =
        node.parent ? fs_.table().view(node.parent->id) : std::nullopt;
    HostEntry host;
    if (!parent || parent->unlinked || fs_.resolve(*parent, node.name, node.path, &host) != 0 ||
        (host.st.st_mode & S_IFMT) != node.type) {
      unlink(node);
      return;
    }
    Rebinding binding;
    binding.layer = host.layer;
    if (node.is_dir()) {
      binding.upper_dir =
          fresh_dir_fd(node.upper_id, parent->upper_dir, node.name, host.layer == Layer::kUpper);
      binding.base_dir = fresh_dir_fd(node.base_id, parent->base_dir, node.name,
                                      host.base_dir_too && parent->base_dir >= 0);
    }
    const bool moved = binding.layer != node.layer || binding.upper_dir || binding.base_dir;
    // Untouched nodes keep every cache: a commit must not cost a notification per node
    // the kernel knows, and dropping attributes races with lookups in the kernel.
    if (!moved && !in_changed(node.path)) return;
    fs_.table().rebind(node.id, std::move(binding));
    // The cached fd may reach an upper file the commit removed, or a base file that a
    // commit elsewhere replaced by rename.
    fs_.fds().erase(node.id);
    notices_.inodes.push_back(node.id);
  }

  // A file linked in the sandbox is one node for all its names (inode_links.cc), reached
  // through the first. A commit makes each committed name a base file of its own, a
  // discard removes them: such names leave the node (the kernel looks them up afresh),
  // else a rename of one failed and a write through one went to the first name's file.
  // The first name leaves only when another is still the node's upper file; otherwise it
  // keeps the node, rebound like any other.
  void split_link_group(fuse_ino_t id, const LinkGroup& group) {
    bool first_left = false;
    bool one_stays = false;
    bool changed = false;
    for (std::size_t i = 0; i < group.names.size(); ++i) {
      const LinkGroup::Name& name = group.names[i];
      const std::optional<NodeView> parent = fs_.table().view(name.parent);
      if (still_linked(parent, name.name, group)) {
        one_stays = one_stays || i > 0;
        continue;
      }
      if (i == 0) {
        first_left = true;
        continue;
      }
      drop_name(id, name);
      changed = true;
    }
    if (first_left && one_stays) {
      drop_name(id, group.names[0]);  // another name takes over host access
      changed = true;
    }
    if (!changed) return;
    fs_.fds().erase(id);  // its names and link count changed
    notices_.inodes.push_back(id);
  }

  // Whether `name` in `parent` is still the upper file `group` was linked as.
  bool still_linked(const std::optional<NodeView>& parent, const std::string& name,
                    const LinkGroup& group) {
    if (!parent || parent->unlinked || !parent->is_dir()) return false;
    HostEntry host;
    return fs_.resolve(*parent, name, layer::child_path(parent->path, name), &host) == 0 &&
           host.layer == Layer::kUpper && S_ISREG(host.st.st_mode) && host.st.st_dev == group.dev &&
           host.st.st_ino == group.ino;
  }

  void drop_name(fuse_ino_t id, const LinkGroup::Name& name) {
    if (const std::optional<NodeView> parent = fs_.table().peek(name.parent))
      fs_.table().remove_name(id, *parent, name.name);
    notices_.entries.emplace_back(name.parent, name.name);
  }

  void unlink(const NodeView& node) {
    fs_.table().mark_unlinked(node.id);
    if (S_ISREG(node.type) && node.layer == Layer::kUpper) fs_.keep_if_open(node.id);
    if (node.parent) notices_.entries.emplace_back(node.parent->id, node.name);
    notices_.inodes.push_back(node.id);
  }

  // Whether one of `paths` is `dir`, above it or below it.
  static bool touches(const std::set<std::string>& paths, const std::string& dir) {
    for (std::string path = dir;; path = parent_of(path)) {
      if (paths.contains(path)) return true;
      if (path == "/") break;
    }
    const std::string below = dir + "/";
    const auto next = paths.lower_bound(below);
    return next != paths.end() && next->starts_with(below);
  }

  Filesystem& fs_;
  const std::set<std::string> roots_;
  const std::set<std::string> changed_;
  KernelNotices notices_;
};

}  // namespace

KernelNotices rebind_nodes(Filesystem& fs, const std::vector<std::string>& roots,
                           const std::vector<std::string>& changed_paths) {
  Rebinder rebinder(fs, roots, changed_paths);
  for (const std::string& root : roots) rebinder.rebind_under(root);
  for (const std::string& path : changed_paths) rebinder.note_changed(path);
  // Whether hidden-level directories have visible descendants may have changed too.
  if (std::optional<NodeView> root = fs.table().view(FUSE_ROOT_ID)) fs.changed_children(*root, {});
  rebinder.hide_emptied();
  return rebinder.take();
}

}  // namespace agentfense::fs
