// ChildProcess (common/child_process.h), which the runtime, the supervisor and the fs
// process's prewarm walker all start their children with: running() answers without
// blocking and without reaping, so a caller can poll a child it does not want to wait on.
#include "common/child_process.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <thread>

#include "common/errors.h"

namespace agentfense {
namespace {

ChildProcess sleep_for(const char* seconds) {
  return ChildProcess::spawn([seconds]() -> ChildFailure {
    ::execl("/bin/sleep", "sleep", seconds, static_cast<char*>(nullptr));
    return {"execl /bin/sleep", errno};
  });
}

// Polls running() until it says false; the machine may be slow, so the bound is loose.
bool stops_running(const ChildProcess& child) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (child.running()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

TEST(ChildProcessTest, RunningUntilItExitsThenWaitReapsItOnce) {
  ChildProcess child = sleep_for("0.2");
  EXPECT_TRUE(child.running());
  ASSERT_TRUE(stops_running(child));
  EXPECT_GT(child.pid(), 0);  // exited, not reaped: running() leaves that to wait()
  EXPECT_EQ(child.wait(), 0);
  EXPECT_EQ(child.pid(), -1);
  EXPECT_FALSE(child.running());
  EXPECT_EQ(child.wait(), -1);
}

TEST(ChildProcessTest, AKilledChildStopsRunningAndReportsTheSignal) {
  ChildProcess child = sleep_for("60");
  EXPECT_TRUE(child.running());
  child.kill();
  ASSERT_TRUE(stops_running(child));
  EXPECT_EQ(child.wait(), 128 + SIGKILL);
}

TEST(ChildProcessTest, AFailedExecIsThrownWithTheStep) {
  try {
    (void)ChildProcess::spawn([]() -> ChildFailure {
      ::execl("/nonexistent/program", "program", static_cast<char*>(nullptr));
      return {"execl /nonexistent/program", errno};
    });
    FAIL() << "spawn returned";
  } catch (const SystemError& error) {
    EXPECT_NE(std::string(error.what()).find("execl /nonexistent/program"), std::string::npos);
    EXPECT_EQ(error.code(), ENOENT);
  }
}

}  // namespace
}  // namespace agentfense
