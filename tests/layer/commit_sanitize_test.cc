// Issue 9 item 10: a commit carries plain content to the host - no world-writable
// modes the base did not have, no FIFOs, no symlinks that lead out of the codebase.
#include <sys/stat.h>

#include "layer/changes.h"
#include "layer_test_util.h"

namespace agentfense::layer::testing {
namespace {

using Strings = std::vector<std::string>;

class CommitSanitizeTest : public LayerTest {
 protected:
  CommitResult commit_all() { return commit(base_fd_.get(), *journal_, Scope(write_all())); }
};

TEST_F(CommitSanitizeTest, NewWorldWritableFileIsCommittedWithoutGroupOtherWrite) {
  write_file(up("output/run.sh"), "#!/bin/sh\n", 0777);
  const CommitResult result = commit_all();
  EXPECT_EQ(result.applied, (Strings{"/output", "/output/run.sh"}));
  EXPECT_EQ(mode_of(base("output/run.sh")), 0755u);
  EXPECT_EQ(result.notes.at("/output/run.sh"), "committed with mode 0755 instead of 0777");
}

TEST_F(CommitSanitizeTest, ChmodOfADirectoryTo0777IsNotCarried) {
  fs::create_directories(base("output"));
  fs::permissions(base("output"), static_cast<fs::perms>(0755));
  mirror_dir("output");
  fs::permissions(up("output"), static_cast<fs::perms>(01777));
  const CommitResult result = commit_all();
  EXPECT_EQ(result.applied, Strings{"/output"});
  EXPECT_EQ(mode_of(base("output")), 0755u);
  EXPECT_EQ(result.notes.count("/output"), 1u);
}

TEST_F(CommitSanitizeTest, GroupWriteTheBaseAlreadyHadIsKept) {
  write_file(base("shared.txt"), "v1\n", 0664);
  copy_up("shared.txt");
  write_file(up("shared.txt"), "v2\n", 0664);
  const CommitResult result = commit_all();
  EXPECT_EQ(result.applied, Strings{"/shared.txt"});
  EXPECT_EQ(mode_of(base("shared.txt")), 0664u);
  EXPECT_TRUE(result.notes.empty());
}

TEST_F(CommitSanitizeTest, FifosAreRefused) {
  fs::create_directories(up("output"));
  ASSERT_EQ(::mkfifo(up("output/pipe").c_str(), 0644), 0);
  const CommitResult result = commit_all();
  EXPECT_EQ(result.denied, Strings{"/output/pipe"});
  EXPECT_EQ(result.reasons.at("/output/pipe"), "FIFOs are not committed");
  EXPECT_FALSE(fs::exists(fs::symlink_status(base("output/pipe"))));
}

TEST_F(CommitSanitizeTest, AbsoluteSymlinksAreRefused) {
  fs::create_directories(up("output"));
  fs::create_symlink("/etc/shadow", up("output/s"));
  const CommitResult result = commit_all();
  EXPECT_EQ(result.denied, Strings{"/output/s"});
  EXPECT_EQ(result.reasons.at("/output/s"), "symlink target is absolute (/etc/shadow)");
  EXPECT_FALSE(fs::exists(fs::symlink_status(base("output/s"))));
}

TEST_F(CommitSanitizeTest, SymlinksClimbingAboveTheCodebaseAreRefused) {
  fs::create_directories(up("output"));
  fs::create_symlink("../../etc/passwd", up("output/up"));
  // Lexically outside even though the kernel would stop at a missing component first.
  fs::create_symlink("missing/../../../x", up("output/sneaky"));
  const CommitResult result = commit_all();
  EXPECT_EQ(result.denied, (Strings{"/output/sneaky", "/output/up"}));
  EXPECT_FALSE(fs::exists(fs::symlink_status(base("output/up"))));
}

TEST_F(CommitSanitizeTest, SymlinksClimbingAfterANameAreRefused) {
  fs::create_directories(up("output/d1/d2/d3"));
  // Checked first (path order) while d1/d2/d3/s did not exist yet; s itself is inside.
  fs::create_symlink("d1/d2/d3/s/../../../../../etc/passwd", up("output/a"));
  fs::create_symlink("../../../..", up("output/d1/d2/d3/s"));
  fs::create_symlink("d1/./d2/../x", up("output/b"));  // harmless today, not once d2 is a link
  const CommitResult result = commit_all();
  EXPECT_EQ(result.denied, (Strings{"/output/a", "/output/b"}));
  EXPECT_EQ(result.reasons.at("/output/a"),
            "symlink target climbs after a name (d1/d2/d3/s/../../../../../etc/passwd): only a "
            "leading ../ may climb");
  EXPECT_FALSE(fs::exists(fs::symlink_status(base("output/a"))));
  EXPECT_EQ(fs::read_symlink(base("output/d1/d2/d3/s")), "../../../..");
}

TEST_F(CommitSanitizeTest, SymlinksResolvingOutsideThroughABaseSymlinkAreRefused) {
  const fs::path outside = root_ / "outside";
  fs::create_directories(outside);
  fs::create_symlink(outside, base("elsewhere"));  // put there by the codebase's owner
  fs::create_directories(up("output"));
  fs::create_symlink("../elsewhere/file", up("output/through"));
  const CommitResult result = commit_all();
  EXPECT_EQ(result.denied, Strings{"/output/through"});
  EXPECT_NE(result.reasons.at("/output/through").find("resolves outside"), std::string::npos);
}

TEST_F(CommitSanitizeTest, RelativeSymlinksInsideAreCommitted) {
  write_file(base("docs/a.md"), "a\n");
  fs::create_directories(up("output/sub"));
  fs::create_symlink("../../docs/a.md", up("output/sub/a"));
  const CommitResult result = commit_all();
  EXPECT_TRUE(result.denied.empty());
  EXPECT_EQ(fs::read_symlink(base("output/sub/a")), "../../docs/a.md");
}

}  // namespace
}  // namespace agentfense::layer::testing
