// SpawnerThread: slow work on one spawner thread does not hold up the next call, the
// threads that forked outlive the calls (PR_SET_PDEATHSIG follows the forking thread),
// and work may call run() again.
#include "supervisor/spawner_thread.h"

#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <stdexcept>
#include <string>

namespace agentfense::supervisor {
namespace {

using namespace std::chrono_literals;

pid_t thread_id() {
  return static_cast<pid_t>(::syscall(SYS_gettid));
}

bool thread_alive(pid_t tid) {
  return std::filesystem::exists("/proc/self/task/" + std::to_string(tid));
}

TEST(SpawnerThread, SlowWorkDoesNotHoldUpTheNextCall) {
  SpawnerThread spawner;
  std::promise<void> release, busy;
  std::shared_future<void> released = release.get_future().share();
  auto slow = std::async(std::launch::async, [&] {
    spawner.run([&] {
      busy.set_value();
      released.wait();
    });
  });
  busy.get_future().wait();  // the slow work holds a spawner thread now
  auto quick = std::async(std::launch::async, [&] { spawner.run([] {}); });
  EXPECT_EQ(quick.wait_for(5s), std::future_status::ready)
      << "a call waited for slow work on another spawner thread";
  release.set_value();
  slow.get();
  quick.get();
  EXPECT_EQ(spawner.threads(), 2u);
}

TEST(SpawnerThread, ThreadsOutliveTheirWork) {
  SpawnerThread spawner;
  pid_t first = 0;
  pid_t second = 0;
  std::promise<void> release, busy;
  std::shared_future<void> released = release.get_future().share();
  auto slow = std::async(std::launch::async, [&] {
    spawner.run([&] {
      first = thread_id();
      busy.set_value();
      released.wait();
    });
  });
  busy.get_future().wait();  // the only thread is taken: the next call needs another
  spawner.run([&] { second = thread_id(); });
  release.set_value();
  slow.get();
  std::this_thread::sleep_for(100ms);
  EXPECT_NE(first, second);
  EXPECT_TRUE(thread_alive(first) && thread_alive(second)) << "a spawner thread exited";
  // Idle threads are reused: sequential calls add none.
  for (int i = 0; i < 20; ++i) spawner.run([] {});
  EXPECT_EQ(spawner.threads(), 2u);
}

// A caller's next call must find the thread that ran its last one idle: sequential calls
// never need a second thread. (The thread used to count itself idle only after the
// caller had returned, and a quick next call then added a thread; under load that made
// ThreadsOutliveTheirWork count 3 threads in a CI run.)
TEST(SpawnerThread, SequentialCallsNeverAddAThread) {
  SpawnerThread spawner;
  for (int i = 0; i < 20000; ++i) spawner.run([] {});
  EXPECT_EQ(spawner.threads(), 1u);
}

TEST(SpawnerThread, NestedRunAndErrors) {
  SpawnerThread spawner;
  int depth = 0;
  spawner.run([&] { spawner.run([&] { depth = 2; }); });
  EXPECT_EQ(depth, 2);
  EXPECT_THROW(spawner.run([] { throw std::runtime_error("no"); }), std::runtime_error);
}

}  // namespace
}  // namespace agentfense::supervisor
