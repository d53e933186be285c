#include "common/private_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/errors.h"

namespace agentfense {

UniqueFd open_private_dir(int parent, const std::string& name, const std::string& shown) {
  if (::mkdirat(parent, name.c_str(), 0700) < 0 && errno != EEXIST)
    throw SystemError("mkdir " + shown, errno);
  // O_NOFOLLOW refuses a planted symlink (ELOOP); O_DIRECTORY anything else.
  UniqueFd fd(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st {};
  if (!fd && errno != ELOOP && errno != ENOTDIR) throw SystemError("open " + shown, errno);
  if (!fd || ::fstat(fd.get(), &st) < 0 || st.st_uid != ::geteuid())
    throw UserError(shown + " is not a directory owned by us; refusing to use it");
  if ((st.st_mode & 07777) != 0700) check_syscall(::fchmod(fd.get(), 0700), "chmod " + shown);
  return fd;
}

UniqueFd open_private_dir(const std::string& path) {
  std::string trimmed = path;
  while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
  const std::size_t slash = trimmed.rfind('/');
  const std::string parent = slash == std::string::npos ? "."
                             : slash == 0               ? "/"
                                                        : trimmed.substr(0, slash);
  const std::string name = slash == std::string::npos ? trimmed : trimmed.substr(slash + 1);
  const UniqueFd parent_fd(
      check_syscall(::open(parent.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC), "open " + parent));
  return open_private_dir(parent_fd.get(), name, path);
}

}  // namespace agentfense
