// Pure pieces: the bwrap command line, workdir resolution, the clean environment.
#include "runtime/bwrap_args.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "common/errors.h"
#include "runtime/clean_env.h"

namespace agentfense::runtime {
namespace {

using ::testing::Contains;
using ::testing::Not;

bool has_sequence(const std::vector<std::string>& args, const std::vector<std::string>& seq) {
  return std::search(args.begin(), args.end(), seq.begin(), seq.end()) != args.end();
}

TEST(BwrapArgs, HardeningFlagsAndCommandLast) {
  const auto args = bwrap_argv({.command = {"echo", "--", "hi"},
                                .workspace_fd = 7,
                                .workdir = "/workspace",
                                .seccomp_fd = 9});
  EXPECT_EQ(args.front(), "/usr/bin/bwrap");
  for (const char* flag :
       {"--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        "--unshare-net", "--die-with-parent", "--new-session", "--disable-userns"})
    EXPECT_THAT(args, Contains(flag));
  EXPECT_TRUE(has_sequence(args, {"--cap-drop", "ALL"}));
  EXPECT_TRUE(has_sequence(args, {"--bind-fd", "7", "/workspace"}));
  EXPECT_TRUE(has_sequence(args, {"--seccomp", "9"}));
  EXPECT_TRUE(has_sequence(args, {"--ro-bind", "/usr", "/usr"}));
  EXPECT_TRUE(has_sequence(args, {"--tmpfs", "/tmp"}));
  EXPECT_TRUE(has_sequence(args, {"--", "echo", "--", "hi"}));
  EXPECT_EQ(args.back(), "hi");
  EXPECT_THAT(args, Not(Contains("/etc")));  // never the host's /etc as a whole
}

TEST(BwrapArgs, NetworkKeepsTheHostNetworkNamespace) {
  const auto args = bwrap_argv({.command = {"true"}, .workdir = "/tmp", .network = true});
  EXPECT_THAT(args, Not(Contains("--unshare-net")));
  EXPECT_THAT(args, Not(Contains("--bind-fd")));
}

TEST(BwrapArgs, WorkdirResolution) {
  EXPECT_EQ(resolve_workdir(""), "/workspace");
  EXPECT_EQ(resolve_workdir("src/lib"), "/workspace/src/lib");
  EXPECT_EQ(resolve_workdir("/tmp"), "/tmp");
  EXPECT_THROW(resolve_workdir("../.."), UserError);
  EXPECT_THROW(resolve_workdir("/workspace/../root"), UserError);
}

TEST(CleanEnv, BaseIsFixedAndExtrasOverride) {
  const auto env = clean_environment({{"HOME", "/workspace"}, {"X", "1"}}, "/workspace/a");
  EXPECT_THAT(env, Contains("HOME=/workspace"));
  EXPECT_THAT(env, Contains("X=1"));
  EXPECT_THAT(env, Contains("PWD=/workspace/a"));
  EXPECT_THAT(env, Contains("LANG=C.UTF-8"));
  EXPECT_EQ(env.size(), 8u);
}

TEST(CleanEnv, RejectsUnrepresentableEntries) {
  EXPECT_THROW(clean_environment({{"", "x"}}, "/"), UserError);
  EXPECT_THROW(clean_environment({{"A=B", "x"}}, "/"), UserError);
  EXPECT_THROW(clean_environment({{"A", std::string("x\0y", 3)}}, "/"), UserError);
}

}  // namespace
}  // namespace agentfense::runtime
