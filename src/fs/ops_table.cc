// The operation table handed to libfuse, and the connection settings the speed of the
// whole design depends on (DESIGN.md "Performance facts").
#include <cerrno>

#include "fs/ops.h"

namespace agentfense::fs {
namespace {

enum class Reply { kError, kNone };

// The C boundary. An exception must never unwind through libfuse: the fs process would
// die mid-operation and take every sandbox command with it. Handlers answer -errno
// themselves and reply last, so what arrives here (std::bad_alloc, a bug) happened before
// any reply: the request gets EIO (forget, which takes no answer, gets none).
template <auto Handler, Reply kReply = Reply::kError>
struct Guarded;

template <typename... Args, void (*Handler)(fuse_req_t, Args...), Reply kReply>
struct Guarded<Handler, kReply> {
  static void call(fuse_req_t req, Args... args) noexcept {
    const RequestCaller caller(fuse_req_ctx(req)->pid);  // for Access::set_quiet_pid
    try {
      Handler(req, args...);
    } catch (...) {
      if constexpr (kReply == Reply::kNone) {
        fuse_reply_none(req);
      } else {
        fuse_reply_err(req, EIO);
      }
    }
  }
};

}  // namespace

fuse_lowlevel_ops make_operations() {
  fuse_lowlevel_ops ops{};
  ops.init = configure_connection;
  ops.lookup = Guarded<op_lookup>::call;
  ops.forget = Guarded<op_forget, Reply::kNone>::call;
  ops.forget_multi = Guarded<op_forget_multi, Reply::kNone>::call;
  ops.getattr = Guarded<op_getattr>::call;
  ops.setattr = Guarded<op_setattr>::call;
  ops.readlink = Guarded<op_readlink>::call;
  ops.mknod = Guarded<op_mknod>::call;
  ops.mkdir = Guarded<op_mkdir>::call;
  ops.unlink = Guarded<op_unlink>::call;
  ops.rmdir = Guarded<op_rmdir>::call;
  ops.symlink = Guarded<op_symlink>::call;
  ops.rename = Guarded<op_rename>::call;
  ops.link = Guarded<op_link>::call;
  ops.open = Guarded<op_open>::call;
  ops.read = Guarded<op_read>::call;
  ops.write = Guarded<op_write>::call;
  // flush/release/releasedir left null: libfuse answers ENOSYS/0 and the kernel stops
  // sending FLUSH. getlk/setlk/flock left null: the kernel handles locks locally.
  ops.fsync = Guarded<op_fsync>::call;
  ops.opendir = Guarded<op_opendir>::call;
  ops.readdir = Guarded<op_readdir>::call;
  ops.readdirplus = Guarded<op_readdirplus>::call;
  ops.fsyncdir = Guarded<op_fsyncdir>::call;
  ops.statfs = Guarded<op_statfs>::call;
  ops.setxattr = Guarded<op_setxattr>::call;
  ops.getxattr = Guarded<op_getxattr>::call;
  ops.listxattr = Guarded<op_listxattr>::call;
  ops.removexattr = Guarded<op_removexattr>::call;
  ops.create = Guarded<op_create>::call;
  ops.fallocate = Guarded<op_fallocate>::call;
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
