#include "common/pid_lock.h"

#include <sys/file.h>
#include <unistd.h>

#include <cerrno>

#include "common/errors.h"

namespace agentfense {

std::string recorded_pid(int fd) {
  char buffer[32] = {};
  const ssize_t n = ::pread(fd, buffer, sizeof buffer - 1, 0);
  if (n <= 0) return "";
  std::string pid(buffer, static_cast<size_t>(n));
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  return pid;
}

bool lock_recording_pid(int fd, const std::string& shown, std::string* holder) {
  if (::flock(fd, LOCK_EX | LOCK_NB) < 0) {
    if (errno != EWOULDBLOCK) check_syscall(-1, "lock " + shown);
    *holder = recorded_pid(fd);
    return false;
  }
  // Only informative (the lock is what counts): a failure here changes nothing.
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) == 0) (void)!::pwrite(fd, pid.data(), pid.size(), 0);
  return true;
}

}  // namespace agentfense
