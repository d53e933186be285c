#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <thread>

#include "server/rest_handoff.h"

namespace agentfense::server {
namespace {

TEST(HandoffTest, DeliversInOrderThenEnds) {
  Handoff<int> pipe(2);
  std::thread producer([&] {
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(pipe.Push(i));
    pipe.Finish();
  });
  for (int i = 0; i < 100; ++i) EXPECT_EQ(pipe.Pop(), i);
  EXPECT_EQ(pipe.Pop(), std::nullopt);
  EXPECT_EQ(pipe.error(), nullptr);
  producer.join();
}

TEST(HandoffTest, CancelUnblocksAFullProducer) {
  Handoff<int> pipe(1);
  ASSERT_TRUE(pipe.Push(1));
  bool second_push = true;
  std::thread producer([&] { second_push = pipe.Push(2); });  // blocks: full
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  pipe.Cancel();
  producer.join();
  EXPECT_FALSE(second_push);
  EXPECT_EQ(pipe.Pop(), std::nullopt);
}

TEST(HandoffTest, FinishCarriesTheProducersError) {
  Handoff<std::string> pipe(4);
  ASSERT_TRUE(pipe.Push("a"));
  pipe.Finish(std::make_exception_ptr(std::runtime_error("boom")));
  EXPECT_EQ(pipe.Pop(), "a");  // buffered items still arrive
  EXPECT_EQ(pipe.Pop(), std::nullopt);
  ASSERT_NE(pipe.error(), nullptr);
  EXPECT_THROW(std::rethrow_exception(pipe.error()), std::runtime_error);
}

}  // namespace
}  // namespace agentfense::server
