// ChildProcess (common/child_process.h), which the runtime, the supervisor and the fs
// process's prewarm walker all start their children with: running() answers without
// blocking and without reaping, so a caller can poll a child it does not want to wait on.
#include "common/child_process.h"

#include <gtest/gtest.h>
#include <pthread.h>
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

void count_signal(int) {}

TEST(ChildProcessTest, AVforkChildExecsAndReportsItsStatus) {
  ChildProcess child = ChildProcess::spawn_vfork([]() -> ChildFailure {
    ::execl("/bin/sh", "sh", "-c", "exit 3", static_cast<char*>(nullptr));
    return {"execl /bin/sh", errno};
  });
  EXPECT_EQ(child.wait(), 3);
}

TEST(ChildProcessTest, AVforkChildsFailedExecIsThrownWithTheStep) {
  try {
    (void)ChildProcess::spawn_vfork([]() -> ChildFailure {
      ::execl("/nonexistent/program", "program", static_cast<char*>(nullptr));
      return {"execl /nonexistent/program", errno};
    });
    FAIL() << "spawn_vfork returned";
  } catch (const SystemError& error) {
    EXPECT_NE(std::string(error.what()).find("execl /nonexistent/program"), std::string::npos);
    EXPECT_EQ(error.code(), ENOENT);
  }
}

// A handler of ours would run on our memory in the child: it is reset there, before the
// body, and only there; the caller's signal mask is the child's and stays ours.
TEST(ChildProcessTest, AVforkChildRunsWithoutOurHandlersAndWithOurMask) {
  struct sigaction handler {};
  handler.sa_handler = count_signal;
  struct sigaction previous {};
  ASSERT_EQ(::sigaction(SIGUSR1, &handler, &previous), 0);
  sigset_t mask, before, after;
  sigemptyset(&mask);
  sigaddset(&mask, SIGUSR2);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &mask, &before), 0);
  ChildProcess child = ChildProcess::spawn_vfork([]() -> ChildFailure {
    struct sigaction seen {};
    if (::sigaction(SIGUSR1, nullptr, &seen) != 0) return {"sigaction", errno};
    if (seen.sa_handler != SIG_DFL) return {"our SIGUSR1 handler is still set", EINVAL};
    sigset_t blocked;
    if (::sigprocmask(SIG_SETMASK, nullptr, &blocked) != 0) return {"sigprocmask", errno};
    if (sigismember(&blocked, SIGUSR2) != 1 || sigismember(&blocked, SIGUSR1) != 0)
      return {"not the caller's signal mask", EINVAL};
    ::execl("/bin/true", "true", static_cast<char*>(nullptr));
    return {"execl /bin/true", errno};
  });
  EXPECT_EQ(child.wait(), 0);
  struct sigaction ours {};
  ASSERT_EQ(::sigaction(SIGUSR1, nullptr, &ours), 0);
  EXPECT_EQ(ours.sa_handler, count_signal);
  ASSERT_EQ(pthread_sigmask(SIG_SETMASK, &before, &after), 0);
  EXPECT_EQ(sigismember(&after, SIGUSR2), 1);
  ASSERT_EQ(::sigaction(SIGUSR1, &previous, nullptr), 0);
}

}  // namespace
}  // namespace agentfense
