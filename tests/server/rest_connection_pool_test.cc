// rest_connection_pool.h: the accept loop waits instead of queueing without bound.
#include "server/rest_connection_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <latch>

namespace agentfense::server {
namespace {

using namespace std::chrono_literals;

TEST(RestConnectionPool, AFullQueueMakesTheAcceptLoopWaitAndEveryConnectionIsServed) {
  RestConnectionPool pool(1, 1);
  std::latch release(1);
  std::atomic<int> served = 0;
  pool.enqueue([&] {
    release.wait();  // a slow client holding the only worker
    ++served;
  });
  // The worker may not have taken the first one yet: enqueue until one must wait.
  std::future<void> waiting;
  for (int i = 0; i < 3; ++i) {
    waiting = std::async(std::launch::async, [&] { pool.enqueue([&] { ++served; }); });
    if (waiting.wait_for(200ms) == std::future_status::timeout) break;
  }
  ASSERT_EQ(waiting.wait_for(0ms), std::future_status::timeout) << "nothing ever waited";
  release.count_down();
  EXPECT_EQ(waiting.wait_for(10s), std::future_status::ready);
  pool.shutdown();
  EXPECT_GE(served.load(), 3);
}

TEST(RestConnectionPool, StoppingReleasesAWaitingAcceptLoop) {
  RestConnectionPool pool(1, 1);
  std::latch release(1);
  pool.enqueue([&] { release.wait(); });
  std::future<void> waiting;
  for (int i = 0; i < 3; ++i) {
    waiting = std::async(std::launch::async, [&] { pool.enqueue([] {}); });
    if (waiting.wait_for(200ms) == std::future_status::timeout) break;
  }
  ASSERT_EQ(waiting.wait_for(0ms), std::future_status::timeout) << "nothing ever waited";
  pool.stopping();
  EXPECT_EQ(waiting.wait_for(10s), std::future_status::ready);
  release.count_down();
  pool.shutdown();  // runs what was queued, joins
}

}  // namespace
}  // namespace agentfense::server
