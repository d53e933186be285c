#include "fs/dir_handle.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace agentfense::fs {
namespace {

// Well below PATH_MAX, which bounds what one openat2 call resolves.
constexpr std::size_t kPieceBytes = 2048;

UniqueFd open_beneath(int dir, const std::string& relative) {
  open_how how{};
  how.flags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  return UniqueFd(
      static_cast<int>(::syscall(SYS_openat2, dir, relative.c_str(), &how, sizeof how)));
}

}  // namespace

DirHandle make_dir_handle(UniqueFd fd) {
  if (!fd) return nullptr;
  struct stat st;
  if (::fstat(fd.get(), &st) < 0) return nullptr;
  if (!S_ISDIR(st.st_mode)) {
    errno = ENOTDIR;
    return nullptr;
  }
  return std::make_shared<const DirFd>(std::move(fd), DirId{true, st.st_dev, st.st_ino});
}

DirHandle reopen_dir(int root, const std::string& path, const DirId& expected) {
  UniqueFd dir(::fcntl(root, F_DUPFD_CLOEXEC, 3));
  if (!dir) return nullptr;
  std::size_t start = path.find_first_not_of('/');
  while (start != std::string::npos && start < path.size()) {
    // The longest run of whole components that fits in one piece (at least one).
    std::size_t end = path.size();
    if (end - start > kPieceBytes) {
      end = path.rfind('/', start + kPieceBytes);
      if (end == std::string::npos || end <= start) end = path.find('/', start);
      if (end == std::string::npos) end = path.size();
    }
    dir = open_beneath(dir.get(), path.substr(start, end - start));
    if (!dir) return nullptr;
    start = end < path.size() ? path.find_first_not_of('/', end) : std::string::npos;
  }
  DirHandle handle = make_dir_handle(std::move(dir));
  if (handle && handle->id != expected) {
    errno = ESTALE;
    return nullptr;
  }
  return handle;
}

}  // namespace agentfense::fs
