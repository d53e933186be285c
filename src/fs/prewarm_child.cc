#include "fs/prewarm_child.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "common/errors.h"

extern char** environ;

namespace agentfense::fs {
namespace {

// Above the standard fds and the hand-over number, so that the dup2 in the child always
// copies (an fd dup2'd onto itself would keep FD_CLOEXEC and vanish at exec).
constexpr int kHighFd = 10;

ChildProcess spawn_walker(const std::string& program, int mount_root, uid_t uid, gid_t gid) {
  const UniqueFd root(::fcntl(mount_root, F_DUPFD_CLOEXEC, kHighFd));
  if (!root) throw SystemError("prewarm: dup the mount's root", errno);
  std::vector<std::string> args = {program, "prewarm",          "--uid", std::to_string(uid),
                                   "--gid", std::to_string(gid)};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  // In the child only async-signal-safe calls (ChildProcess::spawn).
  return ChildProcess::spawn([&]() -> ChildFailure {
    if (::dup2(root.get(), kPrewarmRootFd) < 0) return {"prewarm: dup2 the mount's root", errno};
    ::execve(program.c_str(), argv.data(), environ);
    return {"prewarm: exec the walker", errno};
  });
}

}  // namespace

PrewarmChild::PrewarmChild(const std::string& program, int mount_root, uid_t uid, gid_t gid)
    : child_(spawn_walker(program, mount_root, uid, gid)) {}

}  // namespace agentfense::fs
