#include "fs/prewarm_child.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
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

struct SpawnActions {
  posix_spawn_file_actions_t actions;
  SpawnActions() { check_errno(posix_spawn_file_actions_init(&actions), "spawn actions"); }
  ~SpawnActions() { (void)posix_spawn_file_actions_destroy(&actions); }
  static void check_errno(int error, const char* what) {
    if (error != 0) throw SystemError(std::string("prewarm: ") + what, error);
  }
};

}  // namespace

PrewarmChild::PrewarmChild(const std::string& program, int mount_root, uid_t uid, gid_t gid) {
  const UniqueFd root(::fcntl(mount_root, F_DUPFD_CLOEXEC, kHighFd));
  if (!root) throw SystemError("prewarm: dup the mount's root", errno);
  SpawnActions spawn;
  SpawnActions::check_errno(
      posix_spawn_file_actions_adddup2(&spawn.actions, root.get(), kPrewarmRootFd), "spawn dup2");
  std::vector<std::string> args = {program, "prewarm",          "--uid", std::to_string(uid),
                                   "--gid", std::to_string(gid)};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  SpawnActions::check_errno(
      ::posix_spawn(&pid_, program.c_str(), &spawn.actions, nullptr, argv.data(), environ),
      "spawn the walker");
}

PrewarmChild::~PrewarmChild() {
  if (reaped_) return;
  (void)::kill(pid_, SIGKILL);  // ESRCH: it ended and waits to be reaped
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
}

bool PrewarmChild::finished() {
  if (reaped_) return true;
  reaped_ = ::waitpid(pid_, nullptr, WNOHANG) == pid_;
  return reaped_;
}

}  // namespace agentfense::fs
