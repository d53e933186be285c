#include "fs/owner_reopen.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace agentfense::fs {
namespace {

std::string fd_path(int fd) {
  return "/proc/self/fd/" + std::to_string(fd);
}

mode_t owner_bits_for(int flags) {
  switch (flags & O_ACCMODE) {
    case O_WRONLY:
      return S_IWUSR;
    case O_RDWR:
      return S_IRUSR | S_IWUSR;
    default:
      return S_IRUSR;
  }
}

}  // namespace

UniqueFd reopen_own_file(int dir, const std::string& name, int flags) {
  // O_PATH pins the inode: the chmod and the open below act on it, never on whatever
  // the name points to by then.
  const UniqueFd pinned(::openat(dir, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!pinned) return UniqueFd();
  struct stat st {};
  if (::fstat(pinned.get(), &st) < 0) return UniqueFd();
  if (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) {
    errno = EACCES;
    return UniqueFd();
  }
  const std::string path = fd_path(pinned.get());
  const mode_t mode = st.st_mode & 07777;
  if (::chmod(path.c_str(), mode | owner_bits_for(flags)) < 0) return UniqueFd();
  // The magic link is the inode itself: O_NOFOLLOW would refuse it (ELOOP).
  UniqueFd fd(::open(path.c_str(), flags & ~O_NOFOLLOW));
  const int error = errno;
  (void)::chmod(path.c_str(), mode);  // ours, and just changed: cannot fail but for EIO
  errno = error;
  return fd;
}

OwnerWriteLease::OwnerWriteLease(int dir) {
  if (::geteuid() == 0) return;
  struct stat st {};
  if (::fstat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid()) return;
  const mode_t mode = st.st_mode & 07777;
  if ((mode & (S_IWUSR | S_IXUSR)) == (S_IWUSR | S_IXUSR)) return;
  if (::chmod(fd_path(dir).c_str(), mode | S_IWUSR | S_IXUSR) < 0) return;
  dir_ = dir;
  mode_ = mode;
  lent_ = mode | S_IWUSR | S_IXUSR;
}

OwnerWriteLease::~OwnerWriteLease() {
  if (dir_ < 0) return;
  const int saved = errno;  // callers read errno of the operation inside the lease
  struct stat st {};
  // An agent's chmod during the lease wins: only our own change is taken back.
  if (::fstat(dir_, &st) == 0 && (st.st_mode & 07777) == lent_)
    (void)::chmod(fd_path(dir_).c_str(), mode_);
  errno = saved;
}

int link_tmpfile(int fd, int dir, const std::string& name) {
  if (::linkat(fd, "", dir, name.c_str(), AT_EMPTY_PATH) == 0) return 0;
  if (errno != ENOENT || ::geteuid() == 0) return -errno;
  if (::linkat(AT_FDCWD, fd_path(fd).c_str(), dir, name.c_str(), AT_SYMLINK_FOLLOW) == 0) return 0;
  return -errno;
}

}  // namespace agentfense::fs
