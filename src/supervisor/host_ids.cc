#include "supervisor/host_ids.h"

#include <fcntl.h>
#include <sys/file.h>

#include <atomic>
#include <cerrno>

#include "common/errors.h"
#include "common/private_dir.h"
#include "supervisor/run_dir.h"

namespace agentfense::supervisor {

HostIdLease HostIdLease::acquire(const IdRange& range, const std::string& lock_dir) {
  // The runtime root lives on /run, a tmpfs: after a reboot nothing may have made it yet
  // (a server whose mounts live under its own data dir never does).
  if (lock_dir.empty()) (void)open_private_dir(runtime_root());
  const std::string dir = lock_dir.empty() ? runtime_root() + "/ids" : lock_dir;
  (void)open_private_dir(dir);
  // Lock files are never removed: unlinking one while another process is about to lock
  // it would let two processes hold "the same" id on different inodes.
  // Only where to start looking: the lock decides, whatever other threads or processes do.
  static std::atomic<uid_t> last_leased{0};
  const uid_t last = last_leased.load();
  const uid_t start = last >= range.first && last < range.last ? last + 1 : range.first;
  uid_t id = start;
  do {
    const std::string path = dir + "/" + std::to_string(id);
    UniqueFd lock(::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!lock) throw SystemError("open id lease " + path, errno);
    if (::flock(lock.get(), LOCK_EX | LOCK_NB) == 0) {
      last_leased.store(id);
      return HostIdLease(std::move(lock), id);
    }
    if (errno != EWOULDBLOCK) throw SystemError("lock id lease " + path, errno);
    id = id == range.last ? range.first : id + 1;
  } while (id != start);
  throw SystemError("every sandbox id in " + to_string(range) + " is in use", EAGAIN);
}

}  // namespace agentfense::supervisor
