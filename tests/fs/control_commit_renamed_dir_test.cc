// A directory renamed onto a base directory the sandbox emptied (`mv -T d d2` after
// `rm d2/*`) replaces the base entries the sandbox deleted there: the commit overwrites
// or deletes them, so they must still be the versions the sandbox deleted. A host edit
// since then is a conflict, not a lost update.

#include "control_fixture.h"

namespace agentfense::fs::testing {
namespace {

using nlohmann::json;

class ControlCommitRenamedDir : public ControlledFs {
 protected:
  void SetUp() override {
    ControlledFs::SetUp();
    base_file("a", "A\n");
    base_file("d2/x", "X\n");
    base_file("d2/y", "Y\n");
    base_file("d2/sub/f", "F\n");
    mount_writable();
  }
};

// The finding: the commit wrote the new x over the host's and deleted the host's y.
TEST_F(ControlCommitRenamedDir, HostEditsOfTheDeletedEntriesAreConflicts) {
  ASSERT_EQ(agent_sh("rm -r d2/x d2/y d2/sub && mkdir d && echo new > d/x && mv -T d d2"), 0);
  host_writes("d2/x", "theirs x\n");
  host_writes("d2/y", "theirs y\n");
  const json result = commit_all();
  expect_kept(result, json{"/d2/x", "/d2/y"}, "d2/x", "theirs x\n");
  EXPECT_EQ(read_base("d2/y"), "theirs y\n");
}

// A base file moved into the directory before it lands on a deleted name replaces the
// version deleted there (CopyUpRecord::replaced), as `mv a d2/x` would.
TEST_F(ControlCommitRenamedDir, BaseFileLandingOnADeletedNameKeepsItsVersion) {
  ASSERT_EQ(agent_sh("rm -r d2/x d2/y d2/sub && mkdir d && mv a d/x && mv -T d d2"), 0);
  host_writes("d2/x", "theirs x\n");
  const json result = commit_all();
  expect_kept(result, json{"/a", "/d2/x"}, "d2/x", "theirs x\n");
  EXPECT_EQ(read_base("a"), "A\n");
}

// Deeper down: a new directory lands on a deleted base directory, a file in it on a
// deleted base file.
TEST_F(ControlCommitRenamedDir, NestedDeletedEntriesAreKept) {
  ASSERT_EQ(agent_sh("rm -r d2/x d2/y d2/sub && mkdir -p d/sub && echo new > d/sub/f && "
                     "mv -T d d2"),
            0);
  host_writes("d2/sub/f", "theirs f\n");
  const json result = commit_all();
  expect_kept(result, json{"/d2/sub/f"}, "d2/sub/f", "theirs f\n");
}

// Nothing changed on the host: all of it commits, as before.
TEST_F(ControlCommitRenamedDir, UnchangedBaseCommits) {
  ASSERT_EQ(agent_sh("rm -r d2/x d2/y d2/sub && mkdir d && echo new > d/x && mv a d/a && "
                     "mv -T d d2"),
            0);
  const json result = commit_all();
  EXPECT_EQ(conflicts(result), json::array()) << result.dump();
  EXPECT_EQ(result.value("denied", json::array()), json::array()) << result.dump();
  EXPECT_EQ(read_base("d2/x"), "new\n");
  EXPECT_EQ(read_base("d2/a"), "A\n");
  EXPECT_FALSE(base_has("d2/y"));
  EXPECT_FALSE(base_has("d2/sub"));
  EXPECT_FALSE(base_has("a"));
  EXPECT_TRUE(changes().empty());
}

// Onto a base directory the sandbox emptied and made again (an opaque marker): the
// rename dropped the marker, and the deleted base file came back, its deletion lost.
TEST_F(ControlCommitRenamedDir, OntoARecreatedDirectoryItsBaseEntriesStayDeleted) {
  ASSERT_EQ(agent_sh("rm -r d2/sub && mkdir d2/sub && mkdir d && mv -T d d2/sub"), 0);
  EXPECT_EQ(agent_sh("test -e d2/sub/f"), 1);
  EXPECT_EQ(changes(), (std::vector<std::string>{"deleted /d2/sub/f"}));
  host_writes("d2/sub/f", "theirs f\n");
  const json result = commit_all();
  expect_kept(result, json{"/d2/sub/f"}, "d2/sub/f", "theirs f\n");
}

}  // namespace
}  // namespace agentfense::fs::testing
