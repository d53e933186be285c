#include "layer/commit_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "common/errors.h"
#include "common/log.h"
#include "common/private_dir.h"
#include "common/user_text.h"
#include "layer/safe_walk.h"
#include "policy/reserved_names.h"

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

// O_APPEND: the record only grows while the lock is held, and is cleared to empty.
constexpr int kLockFileFlags = O_RDWR | O_APPEND | O_NOFOLLOW | O_CLOEXEC;

std::string read_record(int fd) {
  std::string record;
  char buffer[8192];
  for (off_t at = 0;;) {
    const ssize_t got = ::pread(fd, buffer, sizeof buffer, at);
    if (got < 0 && errno == EINTR) continue;
    check_syscall(got, "read commit lock record");
    if (got == 0) return record;
    record.append(buffer, static_cast<std::size_t>(got));
    at += got;
  }
}

// Removes every temporary commit entry in base directory `dir_path`. The caller holds
// the lock, so no live commit to this base owns one.
void remove_temps_in(int base_dirfd, const std::string& dir_path) {
  const UniqueFd dir = try_open_dir_beneath(base_dirfd, dir_path);
  if (!dir) return;  // gone (or replaced by a symlink) since: nothing of ours is there
  for (const std::string& name : list_names(dir.get())) {
    if (name.starts_with(policy::kCommitTempPrefix)) remove_tree_at(dir.get(), name);
  }
}

// What a holder that died left: the temporaries in the directories it recorded (NUL
// after each path). A directory that cannot be cleaned is logged, not retried: its
// leftovers are never listed nor counted, and retrying would cost every later commit.
void remove_recorded_leftovers(int lock_fd, int base_dirfd) {
  const std::string record = read_record(lock_fd);
  if (record.empty()) return;
  std::size_t count = 0;
  for (std::size_t at = 0; at < record.size();) {
    std::size_t end = record.find('\0', at);
    if (end == std::string::npos) end = record.size();  // cut short by the kill
    const std::string dir_path = record.substr(at, end - at);
    at = end + 1;
    if (dir_path.empty() || dir_path.front() != '/') continue;
    ++count;
    try {
      remove_temps_in(base_dirfd, dir_path);
    } catch (const SystemError& error) {
      log::warn("commit.leftovers_not_removed",
                {{"dir", escape_user_text(dir_path)}, {"error", error.what()}});
    }
  }
  check_syscall(::ftruncate(lock_fd, 0), "clear commit lock record");
  log::info("commit.leftovers_removed", {{"directories", count}});
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
  UniqueFd fd(::openat(dir.get(), name.c_str(), kLockFileFlags | O_CREAT, 0600));
  if (!fd) throw SystemError("open commit lock " + commit_lock_dir() + "/" + name, errno);
  check_syscall(::flock(fd.get(), LOCK_EX), "lock " + commit_lock_dir() + "/" + name);
  try {
    remove_recorded_leftovers(fd.get(), base_dirfd);
  } catch (const SystemError& error) {
    // Never fatal to this commit: the leftovers are neither listed nor counted, and the
    // record stays for the next holder.
    log::warn("commit.leftovers_not_removed", {{"error", error.what()}});
  }
  return CommitLock(std::move(fd));
}

void CommitLock::sweep_leftovers(int base_dirfd) {
  try {
    const std::string name = lock_name(base_dirfd);
    const UniqueFd dir = open_lock_dir();
    UniqueFd fd(::openat(dir.get(), name.c_str(), kLockFileFlags));
    if (!fd) return;  // never committed to since the lock directory was made
    // Held: a live commit, which clears its own record (or leaves it to the next holder).
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) return;
    remove_recorded_leftovers(fd.get(), base_dirfd);
  } catch (const SystemError& error) {
    log::warn("commit.leftovers_not_removed", {{"error", error.what()}});
  }
}

void CommitLock::note_temp_dir(const std::string& dir_path) {
  if (noted_.contains(dir_path)) return;
  const std::string entry = dir_path + '\0';
  for (std::size_t done = 0; done < entry.size();) {
    const ssize_t wrote = ::write(fd_.get(), entry.data() + done, entry.size() - done);
    if (wrote < 0 && errno == EINTR) continue;
    check_syscall(wrote, "record commit directory in " + commit_lock_dir());
    done += static_cast<std::size_t>(wrote);
  }
  noted_.insert(dir_path);
}

void CommitLock::finished() {
  if (noted_.empty()) return;
  noted_.clear();
  if (::ftruncate(fd_.get(), 0) != 0) {
    // Harmless: the next holder finds nothing of ours to remove in those directories.
  }
}

}  // namespace agentfense::layer
