// Creating names: create, mkdir, mknod, symlink. A new name always goes to the upper
// layer and requires kWrite on exactly that path; its write quota (write_quota.h) is
// reserved after the permission and existence checks (so EACCES and EEXIST come first,
// as on a full disk) and before anything is created.
#include <fcntl.h>
#include <unistd.h>

#include <mutex>

#include "fs/host_io.h"
#include "fs/new_name.h"
#include "fs/ops.h"
#include "layer/safe_walk.h"

namespace agentfense::fs {

int prepare_create(Filesystem& fs, const NodeView& parent, const std::string& name, Op op,
                   bool is_dir, int* upper_parent) {
  const std::string path = layer::child_path(parent.path, name);
  if (path.size() > kMaxWorkspacePath) return -ENAMETOOLONG;  // before deciding on it
  // Decided before looking at the host: a hidden existing name and an absent one must
  // give the same answer (new_name.h).
  const policy::Decision decision = decide_new_name(fs.access().policy(), path, is_dir);
  if (!fs.access().check(op, path, decision, policy::Level::kWrite)) return -EACCES;
  HostEntry existing;
  const int rc = fs.resolve(parent, name, path, &existing);
  if (rc == 0 && !(is_dir && hidden_under_new_dir(fs.access().policy(), path, existing.st)))
    return -EEXIST;
  if (rc != 0 && rc != -ENOENT) return rc;
  // Room for finish_create's records before the host changes (see ops_remove.cc).
  if (int reserved = fs.journal().reserve()) return reserved;
  return fs.ensure_upper_dir(parent, upper_parent);
}

int finish_create(Filesystem& fs, const NodeView& parent, const std::string& name, bool make_opaque,
                  fuse_entry_param* entry) {
  const std::string path = layer::child_path(parent.path, name);
  int recorded = fs.journal().remove_marker(path);
  if (recorded == 0 && make_opaque) recorded = fs.journal().add_opaque(path);
  fs.changed_children(parent, name);
  if (recorded) return recorded;  // only an I/O error, into reserved space
  std::optional<NodeView> fresh_parent = fs.table().view(parent.id);  // now has upper
  return fresh_parent ? fs.lookup(*fresh_parent, name, entry) : -ENOENT;
}

namespace {

// Room for a new name plus `bytes`. A name the sandbox deleted from the base that is used
// again gives its whiteout's name back (finish_create), so at a full inode quota the
// deleted file can still be re-created.
int reserve_name(Filesystem& fs, const NodeView& parent, const char* name, std::uint64_t bytes,
                 WriteQuota::Reservation* out) {
  const bool reuses = fs.journal().is_whiteout(layer::child_path(parent.path, name));
  return fs.quota().reserve(bytes, out, reuses);
}

void reply_created(fuse_req_t req, const NodeView& parent, const std::string& name,
                   bool make_opaque = false) {
  fuse_entry_param entry;
  if (int rc = finish_create(fs_of(req), parent, name, make_opaque, &entry)) {
    fuse_reply_err(req, -rc);
  } else {
    fuse_reply_entry(req, &entry);
  }
}

}  // namespace

void op_create(fuse_req_t req, fuse_ino_t parent_ino, const char* name, mode_t mode,
               fuse_file_info* fi) {
  Filesystem& fs = fs_of(req);
  std::optional<NodeView> parent = node_or_reply(req, parent_ino);
  if (!parent) return;
  std::lock_guard lock(fs.mutation_mu());
  int upper_parent = -1;
  if (int rc = prepare_create(fs, *parent, name, Op::kCreate, false, &upper_parent)) {
    // The kernel sends CREATE only for a name it holds a negative dentry for; the name
    // can exist all the same when another sandbox committed it into the shared base
    // meanwhile. Without O_EXCL that must open the file, not fail: ESTALE makes the
    // kernel retry the open with LOOKUP_REVAL, which drops the negative dentry, looks
    // the name up and opens it as an existing file (O_TRUNC, permissions and all).
    if (rc == -EEXIST && !(fi->flags & O_EXCL)) rc = -ESTALE;
    fuse_reply_err(req, -rc);
    return;
  }
  WriteQuota::Reservation reservation;
  if (int rc = reserve_name(fs, *parent, name, 0, &reservation)) {
    fuse_reply_err(req, -rc);
    return;
  }
  UniqueFd fd(::openat(upper_parent, name, O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC,
                       mode & 0777));
  struct stat st;
  if (!fd || ::fstat(fd.get(), &st) < 0) {
    fuse_reply_err(req, errno);
    return;
  }
  reservation.keep_file(st.st_ino, 0);
  fuse_entry_param entry;
  if (int rc = finish_create(fs, *parent, name, false, &entry)) {
    fuse_reply_err(req, -rc);
    return;
  }
  fs.fds().insert(entry.ino, std::make_shared<const HostFile>(std::move(fd), st.st_ino), true);
  fi->fh = 0;  // data requests are served from the fd cache by node id
  if (fuse_reply_create(req, &entry, fi) != 0) {
    fs.forget(entry.ino, 1);  // the request was interrupted: no reference taken
  }
}

void op_mkdir(fuse_req_t req, fuse_ino_t parent_ino, const char* name, mode_t mode) {
  Filesystem& fs = fs_of(req);
  std::optional<NodeView> parent = node_or_reply(req, parent_ino);
  if (!parent) return;
  std::lock_guard lock(fs.mutation_mu());
  int upper_parent = -1;
  if (int rc = prepare_create(fs, *parent, name, Op::kMkdir, true, &upper_parent)) {
    fuse_reply_err(req, -rc);
    return;
  }
  WriteQuota::Reservation reservation;
  if (int rc = fs.quota().reserve(WriteQuota::kEntryCharge, &reservation)) {
    fuse_reply_err(req, -rc);
    return;
  }
  if (::mkdirat(upper_parent, name, mode & 01777) < 0) {
    fuse_reply_err(req, errno);
    return;
  }
  reservation.keep();
  // A base directory of that name was deleted before (or the name was free only because
  // of a whiteout): the new directory must start empty, not show the old base entries.
  // A deleted base file or symlink is marked the same way: creating clears its whiteout,
  // and without a marker the commit saw a directory over a base file the sandbox never
  // deleted, and refused it forever.
  struct stat base_st;
  const bool base_had_dir = fs.stat_base(*parent, name, &base_st) == 0 && S_ISDIR(base_st.st_mode);
  const bool deleted_base_entry = fs.journal().is_whiteout(layer::child_path(parent->path, name));
  reply_created(req, *parent, name, base_had_dir || deleted_base_entry);
}

void op_mknod(fuse_req_t req, fuse_ino_t parent_ino, const char* name, mode_t mode, dev_t) {
  Filesystem& fs = fs_of(req);
  std::optional<NodeView> parent = node_or_reply(req, parent_ino);
  if (!parent) return;
  const mode_t type = mode & S_IFMT;
  if (type != S_IFREG && type != S_IFIFO && type != S_IFSOCK) {
    const std::string path = layer::child_path(parent->path, name);
    fs.access().deny(Op::kMknod, path, fs.access().policy().decide(path, false), EPERM);
    fuse_reply_err(req, EPERM);  // device nodes are never created
    return;
  }
  std::lock_guard lock(fs.mutation_mu());
  int upper_parent = -1;
  if (int rc = prepare_create(fs, *parent, name, Op::kMknod, false, &upper_parent)) {
    fuse_reply_err(req, -rc);
    return;
  }
  WriteQuota::Reservation reservation;
  if (int rc = reserve_name(fs, *parent, name, type == S_IFREG ? 0 : WriteQuota::kEntryCharge,
                            &reservation)) {
    fuse_reply_err(req, -rc);
    return;
  }
  if (::mknodat(upper_parent, name, type | (mode & 0777), 0) < 0) {
    fuse_reply_err(req, errno);
    return;
  }
  reservation.keep();
  reply_created(req, *parent, name);
}

void op_symlink(fuse_req_t req, const char* target, fuse_ino_t parent_ino, const char* name) {
  Filesystem& fs = fs_of(req);
  std::optional<NodeView> parent = node_or_reply(req, parent_ino);
  if (!parent) return;
  std::lock_guard lock(fs.mutation_mu());
  int upper_parent = -1;
  if (int rc = prepare_create(fs, *parent, name, Op::kSymlink, false, &upper_parent)) {
    fuse_reply_err(req, -rc);
    return;
  }
  // The target is stored verbatim; it is only ever resolved by the kernel through this
  // mount, never by the daemon on the host.
  WriteQuota::Reservation reservation;
  if (int rc = reserve_name(fs, *parent, name, WriteQuota::kEntryCharge, &reservation)) {
    fuse_reply_err(req, -rc);
    return;
  }
  if (::symlinkat(target, upper_parent, name) < 0) {
    fuse_reply_err(req, errno);
    return;
  }
  reservation.keep();
  reply_created(req, *parent, name);
}

}  // namespace agentfense::fs
