// Landlock domains of one's own (runtime/landlock_domain.h), as the Docker runtime gives
// each command: a process in one domain cannot open the /proc files of a process in a
// sibling domain nor signal it, whatever uid they share; a process outside any domain
// still can (the server, and the kernel's own bookkeeping, are not affected). Real
// processes of one unprivileged uid, as in a container.
#include "runtime/landlock_domain.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <string>

namespace agentfense::runtime {
namespace {

constexpr uid_t kAgentUid = 65534;

// Runs `body` in a child as kAgentUid (in a domain of its own when `scoped`); the child's
// exit status is what `body` returns.
pid_t spawn(bool scoped, const std::function<int()>& body) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  if (::setresgid(kAgentUid, kAgentUid, kAgentUid) != 0 ||
      ::setresuid(kAgentUid, kAgentUid, kAgentUid) != 0)
    ::_exit(90);
  // A uid change clears "dumpable"; the exec of a command sets it again.
  if (::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) ::_exit(92);
  if (scoped && enter_landlock_domain() != 0) ::_exit(91);
  ::_exit(body());
}

int status_of(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// 0 when `pid`'s environment could be opened, 1 when it was refused.
int environ_of(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/environ";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == EACCES || errno == EPERM ? 1 : 2;
  ::close(fd);
  return 0;
}

class LandlockDomainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (landlock_abi() == 0) GTEST_SKIP() << "this kernel offers no Landlock";
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run the children as another uid";
    ASSERT_EQ(::pipe2(hold_, O_CLOEXEC), 0);
    // The "command": waits until the test lets it go.
    target_ = spawn(true, [this] {
      char byte;
      ::close(hold_[1]);
      return ::read(hold_[0], &byte, 1) >= 0 ? 0 : 1;
    });
    ::close(hold_[0]);
    ASSERT_GT(target_, 0);
  }
  void TearDown() override {
    if (target_ <= 0) return;
    ::close(hold_[1]);
    EXPECT_EQ(status_of(target_), 0);
  }
  int hold_[2] = {-1, -1};
  pid_t target_ = -1;
};

TEST_F(LandlockDomainTest, ASiblingDomainCannotOpenTheProcFilesOfAnother) {
  EXPECT_EQ(status_of(spawn(true, [this] { return environ_of(target_); })), 1);
  // Control: the same uid outside any domain can (so the refusal is the domain's).
  EXPECT_EQ(status_of(spawn(false, [this] { return environ_of(target_); })), 0);
}

TEST_F(LandlockDomainTest, ASiblingDomainCannotSignalAnother) {
  if (landlock_abi() < 6) GTEST_SKIP() << "signal scoping needs Landlock ABI 6";
  const auto probe = [this] {
    return ::kill(target_, SIGSTOP) == 0 ? 0 : (errno == EPERM ? 1 : 2);
  };
  EXPECT_EQ(status_of(spawn(true, probe)), 1);
}

TEST_F(LandlockDomainTest, ACommandStillReachesItsOwnChildren) {
  // What the command starts inherits its domain: a shell may wait for and signal its jobs.
  const pid_t parent = spawn(true, [] {
    const pid_t child = ::fork();
    if (child == 0) {
      ::pause();
      ::_exit(0);
    }
    const int signalled = ::kill(child, SIGTERM);
    int status = 0;
    ::waitpid(child, &status, 0);
    return signalled == 0 && WIFSIGNALED(status) ? 0 : 1;
  });
  EXPECT_EQ(status_of(parent), 0);
}

}  // namespace
}  // namespace agentfense::runtime
