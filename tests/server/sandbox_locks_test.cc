// SandboxLocks: one sandbox's holder blocks that sandbox only, and entries go away once
// nobody holds or waits for them.
#include "server/sandbox_locks.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

namespace agentfense::server {
namespace {

using namespace std::chrono_literals;

TEST(SandboxLocks, OtherSandboxesAreNotBlocked) {
  SandboxLocks locks;
  const SandboxLocks::Guard held = locks.lock("sb_a");
  auto other = std::async(std::launch::async, [&] { return locks.lock("sb_b").owns_lock(); });
  ASSERT_EQ(other.wait_for(5s), std::future_status::ready) << "sb_b waited for sb_a's holder";
  EXPECT_TRUE(other.get());
}

TEST(SandboxLocks, SameSandboxWaitsForTheHolder) {
  SandboxLocks locks;
  SandboxLocks::Guard held = locks.lock("sb_a");
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    const SandboxLocks::Guard second = locks.lock("sb_a");
    got = true;
  });
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(got) << "a second holder of sb_a while the first still holds it";
  EXPECT_EQ(locks.size(), 1u);
  held.unlock();
  waiter.join();
  EXPECT_TRUE(got);
}

TEST(SandboxLocks, EntriesGoWhenUnused) {
  SandboxLocks locks;
  {
    const SandboxLocks::Guard a = locks.lock("sb_a");
    SandboxLocks::Guard b = locks.lock("sb_b");
    EXPECT_EQ(locks.size(), 2u);
    SandboxLocks::Guard moved = std::move(b);
    EXPECT_FALSE(b.owns_lock());
    EXPECT_TRUE(moved.owns_lock());
    EXPECT_EQ(locks.size(), 2u);
  }
  EXPECT_EQ(locks.size(), 0u);
}

TEST(SandboxLocks, ManyThreadsOnOneSandboxExcludeEachOther) {
  SandboxLocks locks;
  int inside = 0;  // guarded by the lock under test
  int most = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        const SandboxLocks::Guard guard = locks.lock("sb_a");
        most = std::max(most, ++inside);
        --inside;
      }
    });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(most, 1);
  EXPECT_EQ(locks.size(), 0u);
}

}  // namespace
}  // namespace agentfense::server
