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

TEST(BwrapArgs, HardeningFlags) {
  const auto args = bwrap_options({.workspace_fd = 7, .workdir = "/workspace", .seccomp_fd = 9});
  for (const char* flag :
       {"--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        "--unshare-net", "--die-with-parent", "--new-session", "--disable-userns"})
    EXPECT_THAT(args, Contains(flag));
  EXPECT_TRUE(has_sequence(args, {"--cap-drop", "ALL"}));
  EXPECT_TRUE(has_sequence(args, {"--bind-fd", "7", "/workspace"}));
  EXPECT_TRUE(has_sequence(args, {"--seccomp", "9"}));
  EXPECT_TRUE(has_sequence(args, {"--ro-bind", "/usr", "/usr"}));
  EXPECT_TRUE(has_sequence(args, {"--tmpfs", "/tmp"}));
  EXPECT_THAT(args, Not(Contains("/etc")));  // never the host's /etc as a whole
  EXPECT_THAT(args, Not(Contains("--")));
}

TEST(BwrapArgs, OnlyTheOptionsFdAndTheCommandAreOnTheCommandLine) {
  EXPECT_EQ(bwrap_command_line(5, {"echo", "--", "hi"}),
            (std::vector<std::string>{"/usr/bin/bwrap", "--args", "5", "--", "echo", "--", "hi"}));
  EXPECT_EQ(join_bwrap_options({"--a", "", "b c"}), std::string("--a\0\0b c\0", 9));
  EXPECT_THROW(join_bwrap_options({std::string("x\0y", 3)}), UserError);
}

TEST(BwrapArgs, TheEnvironmentIsClearedAndSetForTheCommandOnly) {
  const auto args = bwrap_options({.env = {"A=1", "LD_PRELOAD=/x.so", "E=a=b"}, .workdir = "/tmp"});
  EXPECT_TRUE(has_sequence(args, {"--clearenv", "--setenv", "A", "1", "--setenv", "LD_PRELOAD",
                                  "/x.so", "--setenv", "E", "a=b"}));
  EXPECT_THROW(bwrap_options({.env = {"=x"}, .workdir = "/tmp"}), UserError);
}

TEST(BwrapArgs, NetworkNeverSharesTheHostNamespace) {
  const auto args =
      bwrap_options({.workdir = "/tmp", .network = true, .info_fd = 11, .block_fd = 12});
  EXPECT_THAT(args, Contains("--unshare-net"));
  EXPECT_TRUE(has_sequence(args, {"--info-fd", "11"}));
  EXPECT_TRUE(has_sequence(args, {"--block-fd", "12"}));
  EXPECT_THAT(args, Not(Contains("--bind-fd")));
}

TEST(BwrapArgs, AWorkspaceAttachedLaterIsAnEmptyDirectoryInTheFrozenRoot) {
  const auto args = bwrap_options({.workspace_later = true, .workdir = "/"});
  EXPECT_THAT(args, Not(Contains("--bind-fd")));
  const std::vector<std::string> dir = {"--dir", "/workspace"};
  const std::vector<std::string> freeze = {"--remount-ro", "/"};
  const auto made = std::search(args.begin(), args.end(), dir.begin(), dir.end());
  const auto frozen = std::search(args.begin(), args.end(), freeze.begin(), freeze.end());
  ASSERT_NE(made, args.end());
  ASSERT_NE(frozen, args.end());
  // Made before the root is remounted read-only: nothing can be put there afterwards.
  EXPECT_LT(made, frozen);
  // With a workspace fd the fd wins: never both.
  const auto bound = bwrap_options({.workspace_fd = 7, .workspace_later = true, .workdir = "/"});
  EXPECT_FALSE(has_sequence(bound, dir));
}

TEST(BwrapArgs, KernelInformationInProcIsMasked) {
  const auto args = bwrap_options({.workdir = "/tmp"});
  EXPECT_TRUE(has_sequence(args, {"--ro-bind", "/dev/null", "/proc/kallsyms"}));
  EXPECT_TRUE(has_sequence(args, {"--ro-bind", "/dev/null", "/proc/cmdline"}));
  // Masks come after the procfs they cover.
  const auto proc = std::ranges::find(args, "--proc");
  const auto kallsyms = std::ranges::find(args, "/proc/kallsyms");
  EXPECT_LT(proc - args.begin(), kallsyms - args.begin());
}

TEST(BwrapArgs, PrivateTmpIsSizedWhenAsked) {
  EXPECT_TRUE(has_sequence(bwrap_options({.workdir = "/tmp", .tmp_size = 1 << 20}),
                           {"--size", "1048576", "--tmpfs", "/tmp"}));
  EXPECT_THAT(bwrap_options({.workdir = "/tmp"}), Not(Contains("--size")));
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
