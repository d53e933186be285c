#include "layer/commit_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "common/errors.h"
#include "common/private_dir.h"

namespace agentfense::layer {
namespace {

// The levels below `/` leading to the lock directory; the first `owned_from` of them
// belong to the system (root-owned), the rest must be ours.
struct LockDirPath {
  std::vector<std::string> levels;
  std::size_t owned_from;
};

bool is_own_dir(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::geteuid();
}

LockDirPath lock_dir_path() {
  const uid_t uid = ::geteuid();
  if (uid == 0) return {{"run", "agentfense", "commit-locks"}, 1};
  // Not $XDG_RUNTIME_DIR: fs processes run with a fixed environment and must find the
  // same directory as the CLI and the server.
  const std::string user_run = "/run/user/" + std::to_string(uid);
  if (is_own_dir(user_run))
    return {{"run", "user", std::to_string(uid), "agentfense", "commit-locks"}, 3};
  return {{"tmp", "agentfense-" + std::to_string(uid), "commit-locks"}, 1};
}

UniqueFd open_lock_dir() {
  const LockDirPath where = lock_dir_path();
  std::string path;
  UniqueFd dir(check_syscall(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC), "open /"));
  for (std::size_t i = 0; i < where.levels.size(); ++i) {
    path += "/" + where.levels[i];
    if (i >= where.owned_from) {
      dir = open_private_dir(dir.get(), where.levels[i], path);
    } else {
      dir = UniqueFd(check_syscall(
          ::openat(dir.get(), where.levels[i].c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC),
          "open " + path));
    }
  }
  return dir;
}

std::string lock_name(int base_dirfd) {
  struct stat st {};
  check_syscall(::fstat(base_dirfd, &st), "stat base");
  return std::to_string(static_cast<unsigned long long>(st.st_dev)) + "-" +
         std::to_string(static_cast<unsigned long long>(st.st_ino));
}

}  // namespace

std::string commit_lock_dir() {
  std::string path;
  for (const std::string& level : lock_dir_path().levels) path += "/" + level;
  return path;
}

std::string CommitLock::path_for(int base_dirfd) {
  return commit_lock_dir() + "/" + lock_name(base_dirfd);
}

CommitLock CommitLock::acquire(int base_dirfd) {
  const std::string name = lock_name(base_dirfd);
  const UniqueFd dir = open_lock_dir();
  // Lock files are never removed: unlinking one while another process is about to lock
  // it would let two commits run at once on different inodes.
  UniqueFd fd(::openat(dir.get(), name.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) throw SystemError("open commit lock " + commit_lock_dir() + "/" + name, errno);
  check_syscall(::flock(fd.get(), LOCK_EX), "lock " + commit_lock_dir() + "/" + name);
  return CommitLock(std::move(fd));
}

}  // namespace agentfense::layer
