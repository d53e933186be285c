// A session command's output ends at its fence, wherever the fence is cut; what follows
// belongs to the next command, and a fence with another nonce is just output.
#include "runtime/docker/fence_filter.h"

#include <gtest/gtest.h>

#include <string>

namespace agentfense::runtime::docker {
namespace {

TEST(FenceFilter, OutputEndsAtTheFenceWhereverItIsCut) {
  const std::string fence = command_fence(7, 0xabcdef);
  const std::string stream = "line one\n\x1e partial marker\n" + fence + "next command's";
  for (std::size_t piece = 1; piece <= stream.size(); ++piece) {
    FenceFilter filter;
    std::string out;
    const auto collect = [&out](std::string_view d) { out.append(d); };
    filter.expect(fence, collect);
    for (std::size_t at = 0; at < stream.size(); at += piece)
      filter.feed(std::string_view(stream).substr(at, piece), collect);
    ASSERT_TRUE(filter.seen()) << piece;
    EXPECT_EQ(out, "line one\n\x1e partial marker\n") << piece;
    std::string next;
    filter.expect(command_fence(8, 1), [&next](std::string_view d) { next.append(d); });
    EXPECT_EQ(next, "next command's") << piece;
  }
}

TEST(FenceFilter, AFenceWithAnotherNonceIsOutput) {
  const std::string fence = command_fence(3, 0x1111);
  const std::string forged = command_fence(3, 0x2222);
  FenceFilter filter;
  std::string out;
  const auto collect = [&out](std::string_view d) { out.append(d); };
  filter.expect(fence, collect);
  filter.feed(forged + "still running\n", collect);
  EXPECT_FALSE(filter.seen());
  filter.feed(fence, collect);
  EXPECT_TRUE(filter.seen());
  EXPECT_EQ(out, forged + "still running\n");
}

TEST(FenceFilter, OutputBeforeTheFirstCommandIsHeldApart) {
  FenceFilter filter;
  filter.feed("bash: warning\n", {});
  EXPECT_EQ(filter.take_held(), "bash: warning\n");
  std::string out;
  filter.expect(command_fence(1, 1), [&out](std::string_view d) { out.append(d); });
  EXPECT_EQ(out, "");
}

}  // namespace
}  // namespace agentfense::runtime::docker
