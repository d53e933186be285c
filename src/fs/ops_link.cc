// link and rename: both need kWrite at both ends. They operate in the upper layer only
// (copying the source up first); a directory that has base content, or whose descendants
// would change level by moving, is refused with EXDEV so tools fall back to copy+delete,
// which moves only what the agent can see.
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <unistd.h>

#include <mutex>
#include <optional>
#include <vector>

#include "fs/host_io.h"
#include "fs/merged_dir.h"
#include "fs/new_name.h"
#include "fs/ops.h"
#include "layer/entry_io.h"
#include "layer/safe_walk.h"

namespace agentfense::fs {
namespace {

using policy::Level;

// The decision a moved entry gets at `path`. A non-directory is decided as a new name
// there (new_name.h): one landing on a name a rule hides as a directory (`.git` under
// `libs/*/.git/=none`) would otherwise stand in for the hidden directory, which creating
// or renaming it there directly cannot do.
policy::Decision decision_at_new_path(const policy::Policy& policy, const std::string& path,
                                      bool is_dir) {
  return is_dir ? policy.decide(path, true) : decide_new_name(policy, path, false);
}

// True when every entry below upper directory `from` keeps its decision at `to` (the
// moved nodes keep theirs, and their presented modes follow from it).
bool levels_unchanged(Filesystem& fs, int upper_dir, const std::string& from,
                      const std::string& to) {
  std::vector<ListedEntry> entries;
  if (read_merged_dir(-1, upper_dir, from, fs.journal(), &entries) < 0) return false;
  const policy::Policy& policy = fs.access().policy();
  for (const ListedEntry& entry : entries) {
    const bool is_dir = S_ISDIR(entry.type);
    const std::string old_path = layer::child_path(from, entry.name);
    const std::string new_path = layer::child_path(to, entry.name);
    const policy::Decision before = policy.decide(old_path, is_dir);
    const policy::Decision after = decision_at_new_path(policy, new_path, is_dir);
    if (before.level != after.level ||
        before.descendants_may_be_visible != after.descendants_may_be_visible ||
        before.children_may_be_writable != after.children_may_be_writable) {
      return false;
    }
    if (is_dir) {
      UniqueFd child = open_dir_path(upper_dir, entry.name);
      if (!child || !levels_unchanged(fs, child.get(), old_path, new_path)) return false;
    }
  }
  return true;
}

struct Endpoint {
  NodeView parent;
  std::string name;
  std::string path;
};

// The base version a rename is about to replace at `to` (sed -i, `mv new file`, an
// editor saving through a temp file): the one the sandbox saw there first (an earlier
// copy-up, or what an earlier rename onto `to` replaced), or the base file there now;
// no version when the base has none. The commit overwrites it: it must be unchanged then
// (a lost update otherwise), and without a stamp the replaced file would look "created
// in the sandbox", a conflict with the base file of that name. A directory moved over a
// base directory (`mkdir e && mv -T e d`, as tools that replace a directory atomically
// do) replaces it as rmdir + mkdir do: the directory's version, whose stamp covers the
// entries added to it, tells the commit the entries the sandbox saw there from those
// the base gains later; without it the commit deleted those with no conflict.
layer::SeenBase replaced_base(Filesystem& fs, const Endpoint& to, bool dir_source) {
  if (std::optional<layer::SeenBase> seen = fs.journal().seen_at(to.path)) return *seen;
  struct stat st;
  if (fs.stat_base(to.parent, to.name, &st) != 0 || (S_ISDIR(st.st_mode) && !dir_source)) return {};
  return {layer::stamp_of(st)};
}

// The base version of the source the commit will delete: what the sandbox saw there (an
// entry renamed onto it replaced a version the host may have changed since), else `now`.
layer::BaseStamp deleted_base(Filesystem& fs, const Endpoint& from, const struct stat& now) {
  const std::optional<layer::SeenBase> seen = fs.journal().seen_at(from.path);
  if (seen && seen->version) return *seen->version;
  return layer::stamp_of(now);
}

// The longest path a name the kernel knows at or under directory `dir` would have at
// `to`. Descendants it does not know are refused when looked up there
// (Filesystem::lookup).
std::size_t longest_moved_path(Filesystem& fs, fuse_ino_t dir, const std::string& to) {
  return to.size() + fs.table().longest_path_below(dir);
}

int do_rename(Filesystem& fs, const Endpoint& from, const Endpoint& to, unsigned flags) {
  if (flags & ~RENAME_NOREPLACE) return -EINVAL;  // RENAME_EXCHANGE/WHITEOUT unsupported
  if (to.path.size() > kMaxWorkspacePath) return -ENAMETOOLONG;  // before deciding on it
  std::optional<NodeView> source = fs.table().find_child(from.parent, from.name);
  if (!source) return -ENOENT;  // the kernel always looks a name up before renaming it
  if (source->is_dir() && longest_moved_path(fs, source->id, to.path) > kMaxWorkspacePath) {
    return -ENAMETOOLONG;
  }
  // One check (and one audit event naming both paths): the source's decision when it
  // refuses, else the target's.
  const policy::Decision target_decision =
      decide_new_name(fs.access().policy(), to.path, source->is_dir());
  const policy::Decision& deciding =
      source->decision.level < Level::kWrite ? source->decision : target_decision;
  if (!fs.access().check(Op::kRename, from.path, deciding, Level::kWrite, to.path)) {
    return -EACCES;
  }
  if (from.path == to.path) return 0;
  HostEntry target;
  const int found = fs.resolve(to.parent, to.name, to.path, &target);
  if (found != 0 && found != -ENOENT) return found;
  // A directory moved onto a name whose entry the agent cannot see goes over it, as onto
  // an absent name (new_name.h).
  const bool target_exists =
      found == 0 &&
      !(source->is_dir() && hidden_under_new_dir(fs.access().policy(), to.path, target.st));
  bool target_base_dir = false;  // or a deleted base entry of any type the new dir hides
  if (target_exists) {
    if (flags & RENAME_NOREPLACE) return -EEXIST;
    const bool target_is_dir = S_ISDIR(target.st.st_mode);
    if (source->is_dir() && !target_is_dir) return -ENOTDIR;
    if (!source->is_dir() && target_is_dir) return -EISDIR;
    if (target_is_dir) {
      ChildDirFds fds = open_child_dirs(fs.base_for_name(to.parent, to.name), to.parent.upper_dir,
                                        to.name, to.path, fs.journal());
      std::vector<ListedEntry> entries;
      if (int rc =
              read_merged_dir(fds.base.get(), fds.upper.get(), to.path, fs.journal(), &entries)) {
        return rc;
      }
      if (!fs.empty_for_agent(fds.base.get(), fds.upper.get(), to.path, entries)) return -ENOTEMPTY;
      // One the sandbox emptied and recreated (opaque) still hides a base directory: the
      // rename drops the marker, which must come back, or the deleted entries did.
      target_base_dir = fds.base.valid() || fs.journal().is_opaque(to.path);
    }
  } else if (found == -ENOENT && source->is_dir() && fs.journal().is_whiteout(to.path)) {
    // Onto a base directory the sandbox deleted: the rename drops the deletion records at
    // and under the name, so the new directory must hide the base one (an opaque marker,
    // as mkdir over it makes). Without, the deleted base entries came back: in the diff
    // and the commit, and in the sandbox once the name was looked up again. A deleted
    // base file or symlink is marked too, or the commit takes it for one still there.
    struct stat deleted;
    target_base_dir = fs.stat_base(to.parent, to.name, &deleted) == 0;
  }
  if (source->is_dir() &&
      (source->base_dir >= 0 || !levels_unchanged(fs, source->upper_dir, from.path, to.path))) {
    return -EXDEV;
  }
  // A base name moved away leaves a whiteout and stamps behind, a base directory renamed
  // over an opaque marker: they must fit in the write quota (see ops_remove.cc), checked
  // before anything changes.
  struct stat base_st;
  const bool source_in_base = fs.stat_base(from.parent, from.name, &base_st) == 0;
  if (source_in_base || target_base_dir) {
    const std::string& longer = from.path.size() > to.path.size() ? from.path : to.path;
    const std::uint64_t markers = (source_in_base ? 1 : 0) + (target_base_dir ? 1 : 0);
    if (int rc = fs.reserve_records(longer, 6, markers)) return rc;
  }
  if (int rc = fs.copy_up(*source, true)) return rc;
  int to_upper = -1;
  if (int rc = fs.ensure_upper_dir(to.parent, &to_upper)) return rc;
  std::optional<NodeView> from_parent = fs.table().view(from.parent.id);  // upper may be new
  if (!from_parent) return -ENOENT;
  // The file renamed over may still be open in the agent.
  std::optional<NodeView> victim =
      target_exists ? fs.table().find_child(to.parent, to.name) : std::nullopt;
  if (victim && victim->id == source->id) victim.reset();  // two names of one file
  Filesystem::KeptFile kept = victim ? fs.open_for_keeping(*victim) : Filesystem::KeptFile{};
  // An upper target is replaced on the host (its quota is freed below), unless it is
  // another name of the source file, when rename does nothing. A target that exists only
  // in the base needs nothing removed: the renamed upper entry shadows it.
  struct stat source_st;
  const bool replaces_upper =
      target_exists && target.layer == Layer::kUpper &&
      !(stat_at(from_parent->upper_dir, from.name, &source_st) == 0 &&
        source_st.st_ino == target.st.st_ino && source_st.st_dev == target.st.st_dev);
  // Room for the records below before the host changes (see ops_remove.cc).
  if (int rc = fs.journal().reserve()) return rc;
  if (::renameat2(from_parent->upper_dir, from.name.c_str(), to_upper, to.name.c_str(), flags) <
      0) {
    return -errno;
  }
  // A directory over a deleted base entry keeps that entry's stamp (rename_prefix drops
  // it): the commit checks the deletion against it, as after rm + mkdir.
  const std::optional<layer::SeenBase> replaced =
      source->is_dir() && !target_base_dir ? std::nullopt
                                           : std::optional(replaced_base(fs, to, source->is_dir()));
  const std::optional<layer::BaseStamp> deleted =
      source_in_base ? std::optional(deleted_base(fs, from, base_st)) : std::nullopt;
  // A directory over one the sandbox emptied replaces the base entries it deleted there:
  // their stamps stay for the commit to check (rename_prefix_keeping_seen). One moved off
  // a base directory (emptied and made again: it is never renamed while it shows base
  // entries) leaves the stamps of the base entries deleted there, which the commit
  // deletes with it (rename_dir_leaving_seen).
  int recorded = !source->is_dir() ? fs.journal().rename_prefix(from.path, to.path)
                 : source_in_base  ? fs.journal().rename_dir_leaving_seen(from.path, to.path)
                                   : fs.journal().rename_prefix_keeping_seen(from.path, to.path);
  // A file moved here from elsewhere keeps its own origin, and the version it replaced
  // beside it; otherwise `to` now derives from that version.
  if (recorded == 0 && replaced && fs.journal().copy_up_record(to.path)) {
    recorded = fs.journal().record_replaced(to.path, *replaced);
  } else if (recorded == 0 && replaced && replaced->version) {
    recorded = fs.journal().record_copy_up(to.path, *replaced->version);
  }
  // The source's base version: its own stamp moved to `to` with it, and the deletion of
  // `from` must be checked at commit like any other (see ops_remove.cc).
  if (recorded == 0 && deleted) recorded = fs.journal().record_copy_up(from.path, *deleted);
  if (recorded == 0 && source_in_base) recorded = fs.journal().add_whiteout(from.path);
  if (recorded == 0 && target_base_dir) recorded = fs.journal().add_opaque(to.path);
  // A directory made again over a deleted base one moved to a name the base has nothing
  // at: the marker that hid the base version at `from` came along, and hid there what the
  // base gains later, which the commit then deleted with no conflict (sweep U, U11). An
  // added directory merges with one the base gains there, as `mkdir` at that name does.
  struct stat absent;
  if (recorded == 0 && source->is_dir() && !target_base_dir && fs.journal().is_opaque(to.path) &&
      fs.stat_base(to.parent, to.name, &absent) != 0) {
    recorded = fs.journal().remove_marker(to.path);
  }
  std::optional<NodeView> new_parent = fs.table().view(to.parent.id);
  if (!new_parent) return -ENOENT;
  fs.table().move(source->id, from.parent, from.name, *new_parent, to.name);
  const bool victim_kept = victim && fs.keep_if_orphaned(victim->id, std::move(kept));
  if (replaces_upper) fs.upper_name_removed(target.st, victim_kept ? victim->id : 0);
  fs.changed_children(from.parent, from.name);
  fs.changed_children(to.parent, to.name);
  return recorded;  // the table follows the host; see ops_remove.cc
}

}  // namespace

void op_rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
               const char* newname, unsigned int flags) {
  Filesystem& fs = fs_of(req);
  std::optional<NodeView> from_parent = node_or_reply(req, parent);
  if (!from_parent) return;
  std::optional<NodeView> to_parent = node_or_reply(req, newparent);
  if (!to_parent) return;
  fs.flush_open_events();     // the trail's order: a file's close before its rename
  fs.wait_for_orphan_room();  // a rename over a file may orphan it, as unlink does
  std::lock_guard lock(fs.mutation_mu());
  const Endpoint from{*from_parent, name, layer::child_path(from_parent->path, name)};
  const Endpoint to{*to_parent, newname, layer::child_path(to_parent->path, newname)};
  fuse_reply_err(req, -do_rename(fs, from, to, flags));
}

void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  Filesystem& fs = fs_of(req);
  std::optional<NodeView> source = node_or_reply(req, ino);
  if (!source) return;
  std::optional<NodeView> parent = node_or_reply(req, newparent);
  if (!parent) return;
  if (source->is_dir()) {
    fuse_reply_err(req, EPERM);
    return;
  }
  std::lock_guard lock(fs.mutation_mu());
  // Both ends need write; one audit event names both (prepare_create's check of the new
  // name records nothing for kLink).
  const std::string link_path = layer::child_path(parent->path, newname);
  const policy::Decision new_decision = decide_new_name(fs.access().policy(), link_path, false);
  const policy::Decision& deciding =
      source->decision.level < Level::kWrite ? source->decision : new_decision;
  if (!fs.access().check(Op::kLink, source->path, deciding, Level::kWrite, link_path)) {
    fuse_reply_err(req, EACCES);
    return;
  }
  int upper_parent = -1;
  int rc = prepare_create(fs, *parent, newname, Op::kLink, false, &upper_parent);
  std::optional<NodeView> fresh = fs.table().view(ino);
  if (rc == 0 && !fresh) rc = -ENOENT;
  if (rc == 0) rc = fs.copy_up(*fresh, true);
  WriteQuota::Reservation reservation;  // the new name; the data is charged once already
  if (rc == 0) rc = fs.quota().reserve(0, &reservation);
  if (rc == 0) rc = fs.journal().reserve();
  if (rc == 0 && ::linkat(fresh->parent_upper, fresh->name.c_str(), upper_parent, newname, 0) < 0) {
    rc = -errno;
  }
  if (rc) {
    fuse_reply_err(req, -rc);
    return;
  }
  reservation.keep();
  const std::string new_path = layer::child_path(parent->path, newname);
  const int recorded = fs.journal().remove_marker(new_path);
  fs.changed_children(*parent, newname);
  // The new name is the same node, so the kernel keeps one inode (one page cache) for
  // both names (inode_links.cc).
  std::optional<NodeView> linked = fs.table().add_name(ino, *parent, newname);
  struct stat st;
  rc = !linked ? -ENOENT : recorded ? recorded : stat_at(upper_parent, newname, &st);
  if (rc == 0) {
    fs.table().set_host_file(ino, st.st_dev, st.st_ino);
    present_attr(*linked, fs.owner(), &st);
  }
  if (rc) {
    if (linked) fs.forget(ino, 1);  // the kernel will not hold the new name
    fuse_reply_err(req, -rc);
    return;
  }
  fuse_entry_param entry;
  fs.fill_entry(*linked, st, &entry);
  fuse_reply_entry(req, &entry);
}

}  // namespace agentfense::fs
