// The operation table handed to libfuse, and the connection settings the speed of the
// whole design depends on (DESIGN.md "Performance facts").
#include "fs/ops.h"

namespace agentfense::fs {

fuse_lowlevel_ops make_operations() {
  fuse_lowlevel_ops ops{};
  ops.init = configure_connection;
  ops.lookup = op_lookup;
  ops.forget = op_forget;
  ops.forget_multi = op_forget_multi;
  ops.getattr = op_getattr;
  ops.setattr = op_setattr;
  ops.readlink = op_readlink;
  ops.mknod = op_mknod;
  ops.mkdir = op_mkdir;
  ops.unlink = op_unlink;
  ops.rmdir = op_rmdir;
  ops.symlink = op_symlink;
  ops.rename = op_rename;
  ops.link = op_link;
  ops.open = op_open;
  ops.read = op_read;
  ops.write = op_write;
  // flush/release/releasedir left null: libfuse answers ENOSYS/0 and the kernel stops
  // sending FLUSH. getlk/setlk/flock left null: the kernel handles locks locally.
  ops.fsync = op_fsync;
  ops.opendir = op_opendir;
  ops.readdir = op_readdir;
  ops.readdirplus = op_readdirplus;
  ops.fsyncdir = op_fsyncdir;
  ops.statfs = op_statfs;
  ops.setxattr = op_setxattr;
  ops.getxattr = op_getxattr;
  ops.listxattr = op_listxattr;
  ops.removexattr = op_removexattr;
  ops.create = op_create;
  ops.fallocate = op_fallocate;
  return ops;
}

void configure_connection(void*, fuse_conn_info* conn) {
  // libfuse asks for atomic O_TRUNC by default: the kernel then expects OPEN to truncate
  // and sends no SETATTR. We never see OPEN (ENOSYS), so truncation must come as SETATTR.
  conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
  // Every close would otherwise turn the next fstat into a GETATTR round trip (3x on grep).
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  if (conn->capable & FUSE_CAP_READDIRPLUS) {
    conn->want |= FUSE_CAP_READDIRPLUS;
    // Always plus: a listing is nearly always followed by lookups of its names.
    conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
  }
  if (conn->capable & FUSE_CAP_SPLICE_WRITE) conn->want |= FUSE_CAP_SPLICE_WRITE;
  if (conn->capable & FUSE_CAP_SPLICE_MOVE) conn->want |= FUSE_CAP_SPLICE_MOVE;
  // We strip setuid/setgid ourselves (they are never stored), so the kernel need not ask
  // for security.capability before every write.
  if (conn->capable & FUSE_CAP_HANDLE_KILLPRIV) conn->want |= FUSE_CAP_HANDLE_KILLPRIV;
  if (conn->capable & FUSE_CAP_PARALLEL_DIROPS) conn->want |= FUSE_CAP_PARALLEL_DIROPS;
  // No FUSE_CAP_POSIX_ACL: ACLs are never stored (setting one is refused like any
  // non-user.* attribute), so permission checks are the presented mode bits alone. With
  // it, the kernel fetched "no ACL" once per inode: 25,000 round trips on a first
  // `ls -lR` of 20,000 files. Without it, getxattr(system.posix_acl_access) reaches us,
  // we answer EOPNOTSUPP, and GNU ls stops asking for the rest of the mount.
  conn->want &= ~FUSE_CAP_POSIX_ACL;
  // Locks stay kernel-local (single mount per sandbox).
  conn->want &= ~(FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS);
}

}  // namespace agentfense::fs
