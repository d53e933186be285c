#include "layer/state_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <thread>

#include "common/errors.h"
#include "common/pid_lock.h"

namespace agentfense::layer {
namespace {

constexpr char kLockName[] = "lock";
constexpr std::chrono::milliseconds kRetryEvery{10};

}  // namespace

std::optional<pid_t> StateLock::holder(const std::string& state_dir) {
  const std::string path = state_dir + "/" + kLockName;
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return std::nullopt;
    check_syscall(-1, "open " + path);
  }
  // A shared lock is refused while an fs process holds its exclusive one; got, it is
  // dropped with the fd at once.
  if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0) return std::nullopt;
  if (errno != EWOULDBLOCK) check_syscall(-1, "lock " + path);
  const std::string pid = recorded_pid(fd.get());
  try {
    return static_cast<pid_t>(std::stol(pid));
  } catch (const std::exception&) {
    return 0;  // held, by a process that has not written its pid yet
  }
}

StateLock StateLock::acquire(const std::string& state_dir, std::chrono::milliseconds wait) {
  if (::mkdir(state_dir.c_str(), 0700) < 0 && errno != EEXIST) {
    check_syscall(-1, "mkdir " + state_dir);
  }
  const UniqueFd dir(check_syscall(::open(state_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC),
                                   "open " + state_dir));
  UniqueFd fd(
      check_syscall(::openat(dir.get(), kLockName, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600),
                    "open " + state_dir + "/" + kLockName));
  const auto give_up = std::chrono::steady_clock::now() + wait;
  std::string holder;
  bool locked;
  // No blocking flock with a timer: polling keeps the wait bounded without signals.
  while (!(locked = lock_recording_pid(fd.get(), state_dir + "/" + kLockName, &holder)) &&
         std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(kRetryEvery);
  }
  if (!locked) {
    throw SystemError("state directory " + state_dir + " is in use by another fs process" +
                          (holder.empty() ? "" : " (pid " + holder + ")") +
                          "; refusing to serve one write layer twice",
                      EBUSY);
  }
  return StateLock(std::move(fd));
}

}  // namespace agentfense::layer
