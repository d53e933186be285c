#include "server/data_dir_lock.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "common/errors.h"
#include "common/pid_lock.h"

namespace agentfense::server {
namespace {

constexpr char kLockName[] = "server.lock";

}  // namespace

DataDirLock DataDirLock::acquire(const std::string& data_dir) {
  const std::string path = data_dir + "/" + kLockName;
  // O_CLOEXEC: the fs processes and sandboxes the server starts must not keep the lock
  // (an orphaned fs would otherwise lock a restarted server out of its own data).
  UniqueFd fd(check_syscall(::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600),
                            "open " + path));
  std::string holder;
  if (!lock_recording_pid(fd.get(), path, &holder)) {
    throw UserError("data directory " + data_dir + " is in use by another agentfense server" +
                    (holder.empty() ? "" : " (pid " + holder + ")") +
                    "; stop it first or give this one another --data-dir");
  }
  return DataDirLock(std::move(fd));
}

}  // namespace agentfense::server
