// Copy-on-write: the first modification of a base node creates its upper copy (and the
// upper directories above it). Callers hold Filesystem::mutation_mu().
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

#include "common/copy_bytes.h"
#include "fs/filesystem.h"
#include "fs/host_io.h"
#include "fs/owner_reopen.h"

namespace agentfense::fs {
namespace {

// A regular file's upper copy, created unnamed and linked in only once complete so a
// crash never leaves a half-copied file in the upper layer. Its quota is reserved before
// anything is written: a copy that does not fit leaves nothing behind.
int copy_regular(WriteQuota& quota, const NodeView& file, int upper_parent,
                 const struct stat& base_st, bool keep_data) {
  const std::uint64_t size = keep_data ? static_cast<std::uint64_t>(base_st.st_size) : 0;
  WriteQuota::Reservation reservation;
  if (int rc = quota.reserve(WriteQuota::charge_of(size), &reservation)) return rc;
  UniqueFd tmp(::openat(upper_parent, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600));
  if (!tmp) return -errno;
  if (keep_data) {
    UniqueFd src(::openat(file.parent_base, file.name.c_str(),
                          O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY));
    if (!src) return -errno;
    // The base file may shrink meanwhile: copy_bytes stops where it ends.
    if (int rc = copy_bytes(src.get(), tmp.get(), size)) return rc;
  }
  if (::fchmod(tmp.get(), base_st.st_mode & 0777) < 0) return -errno;
  const timespec times[2] = {base_st.st_atim, base_st.st_mtim};
  if (::futimens(tmp.get(), times) < 0) return -errno;
  struct stat copied;
  if (::fstat(tmp.get(), &copied) < 0) return -errno;  // the base may have shrunk meanwhile
  if (int rc = link_tmpfile(tmp.get(), upper_parent, file.name)) return rc;
  reservation.keep_file(copied.st_ino, static_cast<std::uint64_t>(copied.st_size));
  return 0;
}

int copy_special(WriteQuota& quota, const NodeView& file, int upper_parent,
                 const struct stat& base_st) {
  if (!S_ISLNK(base_st.st_mode) && !S_ISFIFO(base_st.st_mode) && !S_ISSOCK(base_st.st_mode)) {
    return -EPERM;  // device nodes are never recreated in the upper layer
  }
  WriteQuota::Reservation reservation;
  if (int rc = quota.reserve(WriteQuota::kEntryCharge, &reservation)) return rc;
  int rc;
  if (S_ISLNK(base_st.st_mode)) {
    std::vector<char> target(static_cast<size_t>(base_st.st_size) + 1);
    const ssize_t n =
        ::readlinkat(file.parent_base, file.name.c_str(), target.data(), target.size());
    if (n < 0) return -errno;
    target.resize(static_cast<size_t>(n));
    target.push_back('\0');
    rc = result_of(::symlinkat(target.data(), upper_parent, file.name.c_str()));
  } else {
    const mode_t mode = (base_st.st_mode & S_IFMT) | (base_st.st_mode & 0777);
    rc = result_of(::mknodat(upper_parent, file.name.c_str(), mode, 0));
  }
  if (rc == 0) reservation.keep();
  return rc;
}

}  // namespace

// The fd is held by `dir`: valid for as long as that view lives.
int Filesystem::ensure_upper_dir(const NodeView& dir, int* upper_fd) {
  if (dir.upper_dir >= 0) {
    *upper_fd = dir.upper_dir;
    return 0;
  }
  if (!dir.parent) return -EIO;  // the root always has an upper dir
  std::optional<NodeView> parent = table_.view(dir.parent->id);
  if (!parent) return -ENOENT;
  int parent_upper = -1;
  if (int rc = ensure_upper_dir(*parent, &parent_upper)) return rc;
  struct stat base_st;
  if (int rc = stat_at(dir.base_dir, "", &base_st)) return rc;
  WriteQuota::Reservation reservation;
  if (int rc = quota_.reserve(WriteQuota::kEntryCharge, &reservation)) return rc;
  {
    const OwnerWriteLease lease(parent_upper);  // rootless: see owner_reopen.h
    if (::mkdirat(parent_upper, dir.name.c_str(), base_st.st_mode & 0777) == 0) {
      reservation.keep();
    } else if (errno != EEXIST) {  // EEXIST: already there, and counted
      return -errno;
    }
  }
  const timespec times[2] = {base_st.st_atim, base_st.st_mtim};
  // Timestamps are cosmetic for a directory; failing to copy them is not an error.
  (void)::utimensat(parent_upper, dir.name.c_str(), times, AT_SYMLINK_NOFOLLOW);
  DirHandle fd = make_dir_handle(open_dir_path(parent_upper, dir.name));
  if (!fd) return -errno;
  *upper_fd = dir.hold(table_.adopt_upper_dir(dir.id, std::move(fd)));
  return 0;
}

int Filesystem::copy_up(NodeView& file, bool keep_data) {
  if (file.layer == Layer::kUpper) return 0;
  // A base node that left the namespace (a file removed while open, the cwd of a removed
  // directory) has no name to be copied up to: its old path would bring the removed
  // entry back, into the view and the commit, and lose the open file's data. A native fs
  // would still chmod or write the open file; that cannot be done without a name, so the
  // change is refused as for a name that is gone. Reading it keeps working.
  if (file.unlinked) return -ENOENT;
  if (file.is_dir()) {
    int upper = -1;
    if (int rc = ensure_upper_dir(file, &upper)) return rc;
    file.upper_dir = upper;
    file.layer = Layer::kUpper;
    return 0;
  }
  std::optional<NodeView> parent = table_.view(file.parent->id);
  if (!parent) return -ENOENT;
  int upper_parent = -1;
  if (int rc = ensure_upper_dir(*parent, &upper_parent)) return rc;
  struct stat base_st;
  if (int rc = stat_at(file.parent_base, file.name, &base_st)) return rc;
  if (int rc = journal_->reserve()) return rc;  // room for the stamp before the copy
  int rc = 0;
  {
    const OwnerWriteLease lease(upper_parent);  // rootless: see owner_reopen.h
    rc = S_ISREG(base_st.st_mode) ? copy_regular(quota_, file, upper_parent, base_st, keep_data)
                                  : copy_special(quota_, file, upper_parent, base_st);
  }
  if (rc) return rc;
  const layer::BaseStamp stamp{base_st.st_ino, base_st.st_size,
                               base_st.st_mtim.tv_sec * 1000000000LL + base_st.st_mtim.tv_nsec};
  if (int recorded = journal_->record_copy_up(file.path, stamp)) {
    // A copy without its stamp could not detect a conflict at commit: take it back (and
    // its quota); the base file is untouched. If even that fails there is nothing left
    // to try: the commit then reports the copy as a change without a stamp.
    struct stat copied;
    if (stat_at(upper_parent, file.name, &copied) == 0 &&
        ::unlinkat(upper_parent, file.name.c_str(), 0) == 0) {
      upper_name_removed(copied, 0);
    }
    return recorded;
  }
  table_.set_layer(file.id, Layer::kUpper);
  fds_.erase(file.id);
  file.layer = Layer::kUpper;
  // upper_parent belongs to *parent, which goes out of scope here.
  file.hold(parent->owners[1]);
  for (const DirHandle& fd : parent->held) file.hold(fd);
  file.parent_upper = upper_parent;
  return 0;
}

int Filesystem::open_file(const NodeView& node, bool for_write, FdCache::Handle* out) {
  if ((*out = fds_.find(node.id, for_write))) return 0;
  if (node.unlinked) return -ENOENT;
  if (for_write && node.layer != Layer::kUpper) return -EROFS;  // caller forgot copy-up
  const bool writable = node.layer == Layer::kUpper;
  const int flags = O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  UniqueFd fd(
      ::openat(node.host_parent(), node.name.c_str(), flags | (writable ? O_RDWR : O_RDONLY)));
  // Rootless, our own upper file may lack the owner bits (owner_reopen.h).
  if (!fd && errno == EACCES && writable && ::geteuid() != 0)
    fd = reopen_own_file(node.host_parent(), node.name, flags | O_RDWR);
  if (!fd) return -errno;
  struct stat st;
  if (::fstat(fd.get(), &st) < 0) return -errno;
  // Only regular file data is served; anything else reached here is a type confusion.
  if (!S_ISREG(st.st_mode)) return -EACCES;
  // The write quota learns the size here, so writes need no fstat of their own.
  if (writable) quota_.note_size(st.st_ino, static_cast<std::uint64_t>(st.st_size));
  *out = std::make_shared<const HostFile>(std::move(fd), st.st_ino);
  fds_.insert(node.id, *out, writable);
  return 0;
}

Filesystem::KeptFile Filesystem::open_for_keeping(const NodeView& file) {
  KeptFile kept;
  if (!S_ISREG(file.type) || file.unlinked) return kept;
  kept.writable = file.layer == Layer::kUpper;
  // Best effort: without an fd the file is simply not kept (as before it was removed).
  if (open_file(file, kept.writable, &kept.fd) != 0) kept.fd = nullptr;
  return kept;
}

void Filesystem::keep_if_open(fuse_ino_t id) {
  bool writable = true;
  FdCache::Handle fd = fds_.find(id, true);
  if (!fd) {
    fd = fds_.find(id, false);
    writable = false;
  }
  if (!fd) return;  // not open through us: its data went with its name
  fds_.pin(id, std::move(fd), writable);
  std::lock_guard lock(orphans_mu_);
  orphans_.try_emplace(id, std::chrono::steady_clock::now());
}

bool Filesystem::keep_if_orphaned(fuse_ino_t id, KeptFile kept) {
  if (!kept.fd) return false;
  std::optional<NodeView> now = table_.view(id);
  if (!now || !now->unlinked) return false;
  fds_.pin(id, std::move(kept.fd), kept.writable);
  return true;
}

}  // namespace agentfense::fs
