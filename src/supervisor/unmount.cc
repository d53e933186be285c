#include "supervisor/unmount.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>

#include "common/child_process.h"
#include "runtime/child_exec.h"
#include "runtime/helper_env.h"

namespace agentfense::supervisor {
namespace {

// A fixed path, never a PATH lookup: the one libfuse itself mounted with.
constexpr const char* kFusermount = "/usr/bin/fusermount3";

void fusermount_detach(const std::string& path) {
  const runtime::CStringArray argv({kFusermount, "-u", "-z", "-q", path});
  try {
    ChildProcess child = ChildProcess::spawn([&argv]() -> ChildFailure {
      ::execve(kFusermount, argv.get(), runtime::helper_environment());
      return {"execve fusermount3", errno};
    });
    (void)child.wait();
  } catch (...) {
    // Teardown: a leftover mount is swept by the next invocation.
  }
}

// mountinfo's "major:minor" of the mount at `path` as fusectl names its connection (the
// kernel's dev_t: major << 20 | minor), or nothing. Paths there escape space, tab,
// newline and backslash as octal; run directories hold none of them.
std::optional<unsigned long> fuse_connection_of(const std::string& path) {
  std::ifstream mountinfo("/proc/self/mountinfo");
  std::string line;
  std::optional<unsigned long> found;
  while (std::getline(mountinfo, line)) {
    std::istringstream fields(line);
    std::string id, parent, device, root, mountpoint;
    fields >> id >> parent >> device >> root >> mountpoint;
    unsigned long major = 0, minor = 0;
    if (mountpoint != path || std::sscanf(device.c_str(), "%lu:%lu", &major, &minor) != 2) continue;
    found = (major << 20) | minor;  // the last one: mounts stack, the top one is in use
  }
  return found;
}

}  // namespace

void abort_fuse_connection(const std::string& path) {
  const std::optional<unsigned long> connection = fuse_connection_of(path);
  if (!connection) return;
  std::ofstream abort("/sys/fs/fuse/connections/" + std::to_string(*connection) + "/abort");
  abort << "1";
}

bool is_mountpoint(const std::string& path) {
  // A dead FUSE daemon's mount answers stat with ENOTCONN; a live one has a device of
  // its own.
  struct stat here {
  }, parent{};
  if (::lstat(path.c_str(), &here) < 0) return errno == ENOTCONN;
  if (::lstat((path + "/..").c_str(), &parent) < 0) return false;
  return S_ISDIR(here.st_mode) && here.st_dev != parent.st_dev;
}

void detach_mount(const std::string& path) {
  // MNT_DETACH: a hung daemon must not block cleanup. EINVAL/ENOENT mean nothing is
  // mounted there, the normal case after a clean shutdown.
  if (::umount2(path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0 || errno != EPERM) return;
  if (::geteuid() != 0 && is_mountpoint(path)) fusermount_detach(path);
}

}  // namespace agentfense::supervisor
