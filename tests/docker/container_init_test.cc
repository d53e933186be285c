// ContainerInit::check_alive: what the server opens through /proc/<pid> of a container's
// init is used only while init is the process its pidfd names, never a later holder of
// the pid.
#include "runtime/docker/container_init.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "common/errors.h"
#include "common/unique_fd.h"

namespace agentfense::runtime::docker {
namespace {

TEST(ContainerInit, AliveWhileItsProcessRunsThenESRCHNamingWhat) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  const UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, child, 0)));
  ASSERT_TRUE(pidfd) << errno;
  const ContainerInit init{child, pidfd.get()};
  EXPECT_NO_THROW(init.check_alive("open /proc/N/root"));

  ASSERT_EQ(::kill(child, SIGKILL), 0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);  // reaped: the pid is free for reuse
  try {
    init.check_alive("open /proc/N/root");
    FAIL() << "an exited init passed the check";
  } catch (const SystemError& error) {
    EXPECT_EQ(error.code(), ESRCH);
    EXPECT_NE(std::string(error.what()).find("open /proc/N/root"), std::string::npos);
    EXPECT_NE(std::string(error.what()).find("has exited"), std::string::npos);
  }
}

}  // namespace
}  // namespace agentfense::runtime::docker
