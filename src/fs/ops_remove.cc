// Removing names: unlink and rmdir. An upper entry is removed from the upper layer; a
// name that also exists in the base gets a whiteout in the journal (never a file the
// agent could forge or remove).
#include <fcntl.h>
#include <unistd.h>

#include <mutex>
#include <vector>

#include "fs/host_io.h"
#include "fs/merged_dir.h"
#include "fs/ops.h"
#include "layer/entry_io.h"
#include "layer/safe_walk.h"

namespace agentfense::fs {
namespace {

int remove_entry(Filesystem& fs, const NodeView& parent, const std::string& name, bool is_rmdir) {
  const Op op = is_rmdir ? Op::kRmdir : Op::kUnlink;
  const std::string path = layer::child_path(parent.path, name);
  HostEntry host;
  if (int rc = fs.resolve(parent, name, path, &host)) return rc;
  const bool is_dir = S_ISDIR(host.st.st_mode);
  std::optional<NodeView> known = fs.table().find_child(parent, name);
  const policy::Decision decision =
      known ? known->decision : fs.access().policy().decide(path, is_dir);
  if (decision.level == policy::Level::kNone && !known) return -ENOENT;  // hidden
  if (!fs.access().check(op, path, decision, policy::Level::kWrite)) return -EACCES;
  if (is_rmdir && !is_dir) return -ENOTDIR;
  if (!is_rmdir && is_dir) return -EISDIR;
  if (is_dir) {
    ChildDirFds fds =
        open_child_dirs(fs.base_for_name(parent, name), parent.upper_dir, name, path, fs.journal());
    std::vector<ListedEntry> entries;
    if (int rc = read_merged_dir(fds.base.get(), fds.upper.get(), path, fs.journal(), &entries)) {
      return rc;
    }
    if (!fs.empty_for_agent(fds.base.get(), fds.upper.get(), path, entries)) return -ENOTEMPTY;
  }
  struct stat base_st;
  const bool in_base = fs.stat_base(parent, name, &base_st) == 0;
  // Room for the whiteout before the host changes: on a full disk the agent gets ENOSPC
  // and nothing happened, rather than an upper copy gone and its base file back. A name
  // that needs no record can always be removed: that is how a full disk is freed.
  // Deleting a name only the base has adds a stamp and a whiteout (one name) out of
  // nothing: they must fit in the write quota, as writing must. Removing an upper copy
  // frees its own name and data, so it is never refused for its whiteout.
  if (in_base && host.layer != Layer::kUpper) {
    if (int rc = fs.reserve_records(path, 2, 1)) return rc;
  } else if (in_base || fs.journal().is_whiteout(path) || fs.journal().is_opaque(path)) {
    if (int rc = fs.journal().reserve()) return rc;
  }
  Filesystem::KeptFile kept = known ? fs.open_for_keeping(*known) : Filesystem::KeptFile{};
  if (host.layer == Layer::kUpper &&
      ::unlinkat(parent.upper_dir, name.c_str(), is_dir ? AT_REMOVEDIR : 0) < 0) {
    return -errno;
  }
  int recorded = fs.journal().remove_marker(path);
  // The base version this removal deletes, unless an earlier copy-up or removal already
  // recorded the one the sandbox saw: a commit must not delete what another sandbox
  // committed there since (a lost update, also for a directory's new entries).
  if (recorded == 0 && in_base)
    recorded = fs.journal().record_copy_up(path, layer::stamp_of(base_st));
  if (recorded == 0 && in_base) recorded = fs.journal().add_whiteout(path);
  bool kept_open = false;
  if (known) {
    fs.table().remove_name(known->id, parent, name);  // a hard link's other names live on
    kept_open = fs.keep_if_orphaned(known->id, std::move(kept));
  }
  if (host.layer == Layer::kUpper) fs.upper_name_removed(host.st, kept_open ? known->id : 0);
  fs.changed_children(parent, name);
  // Only an I/O error can fail an append into reserved space; the table follows the
  // host above, and the agent learns that the removal is not fully recorded.
  return recorded;
}

void remove_op(fuse_req_t req, fuse_ino_t parent_ino, const char* name, bool is_rmdir) {
  Filesystem& fs = fs_of(req);
  std::optional<NodeView> parent = node_or_reply(req, parent_ino);
  if (!parent) return;
  fs.flush_open_events();     // the trail's order: a file's close before its removal
  fs.wait_for_orphan_room();  // before any lock: FORGETs must be able to run meanwhile
  std::lock_guard lock(fs.mutation_mu());
  fuse_reply_err(req, -remove_entry(fs, *parent, name, is_rmdir));
}

}  // namespace

void op_unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  remove_op(req, parent, name, false);
}

void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  remove_op(req, parent, name, true);
}

}  // namespace agentfense::fs
