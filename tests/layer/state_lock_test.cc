// One fs process per write layer (layer/state_lock.h): a second lock on the same STATE
// directory is refused, naming the holder, until the first is released.
#include "layer/state_lock.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>

#include "common/errors.h"
#include "test_support/temp_dir.h"

namespace agentfense::layer {
namespace {

TEST(StateLock, ASecondHolderIsRefusedUntilTheFirstLetsGo) {
  const testing::TempDir tmp("af-state-lock");
  const std::string state = tmp.path() / "state";  // created by the lock
  std::optional<StateLock> first(StateLock::acquire(state));
  struct stat st;
  ASSERT_EQ(::stat(state.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  const auto asked = std::chrono::steady_clock::now();
  try {
    (void)StateLock::acquire(state, std::chrono::milliseconds(300));
    FAIL() << "a second lock on one state directory was granted";
  } catch (const SystemError& error) {
    EXPECT_EQ(error.code(), EBUSY);
    const std::string message = error.what();
    EXPECT_NE(message.find(state + " is in use by another fs process"), std::string::npos)
        << message;
    EXPECT_NE(message.find("(pid " + std::to_string(::getpid()) + ")"), std::string::npos)
        << message;
  }
  EXPECT_GE(std::chrono::steady_clock::now() - asked, std::chrono::milliseconds(300));
  first.reset();
  EXPECT_NO_THROW((void)StateLock::acquire(state));
}

// The server's race (CI, 1 of 150 concurrent starts): a layer call on a stopped sandbox
// held its lock while another thread forked a child; the call ended and let go, but the
// child shared the locked open file until it exec'd, and the sandbox's new fs process,
// started that instant, was refused. Now it waits out such a window.
TEST(StateLock, ALockKeptBrieflyByAForkedChildIsWaitedFor) {
  const testing::TempDir tmp("af-state-lock");
  const std::string state = tmp.path() / "state";
  std::optional<StateLock> held(StateLock::acquire(state));
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::usleep(300'000);  // a child between fork and exec, holding the inherited fd
    ::_exit(0);
  }
  held.reset();  // the layer call ends while the child still has the file open
  const auto asked = std::chrono::steady_clock::now();
  EXPECT_NO_THROW((void)StateLock::acquire(state));
  EXPECT_GE(std::chrono::steady_clock::now() - asked, std::chrono::milliseconds(200));
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(StateLock, OtherStateDirectoriesAreIndependent) {
  const testing::TempDir tmp("af-state-lock");
  const StateLock a = StateLock::acquire(tmp.path() / "a");
  EXPECT_NO_THROW((void)StateLock::acquire(tmp.path() / "b"));
}

}  // namespace
}  // namespace agentfense::layer
