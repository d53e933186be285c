#include "runtime/tun_device.h"

#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>

namespace agentfense::runtime {

ChildFailure provide_private_tun_device(uid_t owner, gid_t group) {
  if (::unshare(CLONE_NEWNS) < 0) return {"unshare mount namespace for tun", errno};
  // The host's / is usually a shared mount: keep the tmpfs below from propagating back.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0)
    return {"make mounts private for tun", errno};
  if (::mount("tmpfs", "/dev/net", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=4k") < 0)
    return {"mount tmpfs on /dev/net", errno};
  if (::mknod("/dev/net/tun", S_IFCHR | 0600, ::makedev(10, 200)) < 0)
    return {"mknod /dev/net/tun", errno};
  if (::chown("/dev/net/tun", owner, group) < 0) return {"chown /dev/net/tun", errno};
  return {};
}

}  // namespace agentfense::runtime
