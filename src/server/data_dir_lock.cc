#include "server/data_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "common/errors.h"

namespace agentfense::server {
namespace {

constexpr char kLockName[] = "server.lock";

// The pid the holder wrote ("" when unreadable or not written yet).
std::string holder_of(int fd) {
  char buffer[32] = {};
  const ssize_t n = ::pread(fd, buffer, sizeof buffer - 1, 0);
  if (n <= 0) return "";
  std::string pid(buffer, static_cast<size_t>(n));
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  return pid;
}

}  // namespace

DataDirLock DataDirLock::acquire(const std::string& data_dir) {
  const std::string path = data_dir + "/" + kLockName;
  // O_CLOEXEC: the fs processes and sandboxes the server starts must not keep the lock
  // (an orphaned fs would otherwise lock a restarted server out of its own data).
  UniqueFd fd(check_syscall(::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600),
                            "open " + path));
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) < 0) {
    if (errno != EWOULDBLOCK) check_syscall(-1, "lock " + path);
    const std::string holder = holder_of(fd.get());
    throw UserError("data directory " + data_dir + " is in use by another agentfense server" +
                    (holder.empty() ? "" : " (pid " + holder + ")") +
                    "; stop it first or give this one another --data-dir");
  }
  // Only informative (the lock is what counts): a failure here changes nothing.
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd.get(), 0) == 0) (void)!::pwrite(fd.get(), pid.data(), pid.size(), 0);
  return DataDirLock(std::move(fd));
}

}  // namespace agentfense::server
