// One fs process per write layer (layer/state_lock.h): a second lock on the same STATE
// directory is refused, naming the holder, until the first is released.
#include "layer/state_lock.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

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
  try {
    (void)StateLock::acquire(state);
    FAIL() << "a second lock on one state directory was granted";
  } catch (const SystemError& error) {
    EXPECT_EQ(error.code(), EBUSY);
    const std::string message = error.what();
    EXPECT_NE(message.find(state + " is in use by another fs process"), std::string::npos)
        << message;
    EXPECT_NE(message.find("(pid " + std::to_string(::getpid()) + ")"), std::string::npos)
        << message;
  }
  first.reset();
  EXPECT_NO_THROW((void)StateLock::acquire(state));
}

TEST(StateLock, OtherStateDirectoriesAreIndependent) {
  const testing::TempDir tmp("af-state-lock");
  const StateLock a = StateLock::acquire(tmp.path() / "a");
  EXPECT_NO_THROW((void)StateLock::acquire(tmp.path() / "b"));
}

}  // namespace
}  // namespace agentfense::layer
