// A base directory the sandbox deleted and made again (`rm -r d && mkdir d`) hides the
// base entries it held; the commit deletes them. An entry the host put there since was
// never among them: deleting it would lose the host's work, so it is a conflict (and
// stays one), while the entries the sandbox did delete go as before.

#include <sys/stat.h>

#include "control_fixture.h"

namespace agentfense::fs::testing {
namespace {

using nlohmann::json;

class ControlCommitRecreatedDir : public ControlledFs {
 protected:
  void SetUp() override {
    ControlledFs::SetUp();
    base_file("d/a", "A\n");
    base_file("d/sub/f", "F\n");
    base_file("e/sub/f", "F\n");
    mount_writable();
  }
  void host_mkdir(const std::string& rel) const {
    ASSERT_EQ(::mkdir(base_path(rel).c_str(), 0755), 0) << rel;
  }
};

// The finding: the commit deleted the host's d/c with no conflict.
TEST_F(ControlCommitRecreatedDir, HostsNewFileIsAConflict) {
  ASSERT_EQ(agent_sh("rm -r d && mkdir d && echo new > d/b"), 0);
  host_writes("d/c", "theirs c\n");
  const json result = commit_all();
  expect_kept(result, json{"/d/c"}, "d/c", "theirs c\n");
  EXPECT_EQ(read_base("d/b"), "new\n");
  EXPECT_FALSE(base_has("d/a"));
  EXPECT_FALSE(base_has("d/sub"));
  // The commit wrote into d, which turned its marker into whiteouts: the host's file
  // stays a conflict, not a deletion the next commit makes.
  const json again = commit_all();
  expect_kept(again, json{"/d/c"}, "d/c", "theirs c\n");
}

// A new directory of the host's, with something in it, the same.
TEST_F(ControlCommitRecreatedDir, HostsNewDirectoryIsAConflict) {
  ASSERT_EQ(agent_sh("rm -r d && mkdir d && echo new > d/b"), 0);
  host_mkdir("d/theirs");
  host_writes("d/theirs/t", "T\n");
  const json result = commit_all();
  expect_kept(result, json{"/d/theirs"}, "d/theirs/t", "T\n");
  EXPECT_FALSE(base_has("d/a"));
}

// Deeper: a recreated directory inside a base directory the sandbox kept.
TEST_F(ControlCommitRecreatedDir, NestedRecreatedDirectory) {
  ASSERT_EQ(agent_sh("rm -r d/sub && mkdir d/sub && echo new > d/sub/b"), 0);
  host_writes("d/sub/c", "theirs c\n");
  const json result = commit_all();
  expect_kept(result, json{"/d/sub/c"}, "d/sub/c", "theirs c\n");
  EXPECT_FALSE(base_has("d/sub/f"));
  EXPECT_EQ(read_base("d/a"), "A\n");
}

// A directory made again below the recreated one (`mkdir -p`): the host's new file in
// it was never seen either.
TEST_F(ControlCommitRecreatedDir, BelowARecreatedDirectory) {
  ASSERT_EQ(agent_sh("rm -r d && mkdir -p d/sub && echo new > d/b"), 0);
  host_writes("d/sub/g", "theirs g\n");
  const json result = commit_all();
  expect_kept(result, json{"/d/sub/g"}, "d/sub/g", "theirs g\n");
  EXPECT_FALSE(base_has("d/sub/f"));
  EXPECT_FALSE(base_has("d/a"));
}

// A recreated directory whose mode changed is committed itself, before the entries in
// it: that must not take away what its deletion recorded.
TEST_F(ControlCommitRecreatedDir, RecreatedWithAnotherMode) {
  ASSERT_EQ(agent_sh("rm -r d && mkdir -m 700 d && echo new > d/b"), 0);
  host_writes("d/c", "theirs c\n");
  const json result = commit_all();
  expect_kept(result, json{"/d/c"}, "d/c", "theirs c\n");
  const json again = commit_all();
  expect_kept(again, json{"/d/c"}, "d/c", "theirs c\n");
}

// A partial commit writes into the directory first; the rest comes later.
TEST_F(ControlCommitRecreatedDir, PartialCommitThenTheRest) {
  ASSERT_EQ(agent_sh("rm -r d && mkdir d && echo new > d/b"), 0);
  host_writes("d/c", "theirs c\n");
  const json first = call({{"op", "commit"}, {"paths", {"/d/b"}}});
  EXPECT_EQ(first.value("applied", json::array()), (json{"/d/b"})) << first.dump();
  const json rest = commit_all();
  expect_kept(rest, json{"/d/c"}, "d/c", "theirs c\n");
  EXPECT_FALSE(base_has("d/a"));
}

// A partial commit of entries the sandbox deleted there writes into the directory first,
// which turns its marker into whiteouts (one over the host's entry); the commit of the
// rest, which commits the directory itself (made again with another mode: the base's
// came from another umask), deleted the host's entry with no conflict.
class ControlCommitRecreatedDirPartial : public ControlCommitRecreatedDir,
                                         public ::testing::WithParamInterface<json> {};

TEST_P(ControlCommitRecreatedDirPartial, ThenTheRestKeepsTheHostsEntry) {
  ASSERT_EQ(agent_sh("rm -r d && mkdir -m 700 d"), 0);
  host_writes("d/c", "theirs c\n");
  const json first = call({{"op", "commit"}, {"paths", GetParam()}});
  EXPECT_EQ(first.value("applied", json::array()), GetParam()) << first.dump();
  const json rest = commit_all();
  expect_kept(rest, json{"/d/c"}, "d/c", "theirs c\n");
  EXPECT_FALSE(base_has("d/a"));
  EXPECT_FALSE(base_has("d/sub"));
  // Settled (the host gives it up): nothing stays behind, and deleting d later is
  // checked against the base as it is then.
  ASSERT_EQ(::unlink(base_path("d/c").c_str()), 0);
  const json settled = commit_all();
  EXPECT_EQ(conflicts(settled), json::array()) << settled.dump();
  EXPECT_TRUE(changes().empty());
  ASSERT_EQ(agent_sh("rm -r d"), 0);
  const json deleted = commit_all();
  EXPECT_EQ(conflicts(deleted), json::array()) << deleted.dump();
  EXPECT_FALSE(base_has("d"));
}

INSTANTIATE_TEST_SUITE_P(Paths, ControlCommitRecreatedDirPartial,
                         ::testing::Values(json{"/d/a"}, json{"/d/a", "/d/sub"}));

// A directory renamed onto the recreated one (the `K` record) keeps it opaque and what
// its deletion recorded.
TEST_F(ControlCommitRecreatedDir, DirectoryRenamedOntoIt) {
  ASSERT_EQ(agent_sh("rm -r d && mkdir d && mkdir x && echo new > x/b && mv -T x d"), 0);
  host_writes("d/c", "theirs c\n");
  const json result = commit_all();
  expect_kept(result, json{"/d/c"}, "d/c", "theirs c\n");
  EXPECT_EQ(read_base("d/b"), "new\n");
  EXPECT_FALSE(base_has("d/a"));
}

// Nothing new on the host: all of it commits, and nothing stays behind.
TEST_F(ControlCommitRecreatedDir, UnchangedBaseCommits) {
  ASSERT_EQ(agent_sh("rm -r d e/sub && mkdir -m 700 d && mkdir e/sub && echo new > d/b"), 0);
  const json result = commit_all();
  EXPECT_EQ(conflicts(result), json::array()) << result.dump();
  EXPECT_EQ(result.value("denied", json::array()), json::array()) << result.dump();
  EXPECT_EQ(read_base("d/b"), "new\n");
  EXPECT_FALSE(base_has("d/a"));
  EXPECT_FALSE(base_has("d/sub"));
  EXPECT_FALSE(base_has("e/sub/f"));
  EXPECT_TRUE(changes().empty());
}

// Once committed, the directory's deletion is done with: deleting it again later is
// checked against the base as the sandbox sees it then, not as it first deleted it.
TEST_F(ControlCommitRecreatedDir, DeletedAgainAfterACommit) {
  ASSERT_EQ(agent_sh("rm -r d && mkdir d && echo new > d/b"), 0);
  const json first = commit_all();
  EXPECT_EQ(conflicts(first), json::array()) << first.dump();
  ASSERT_EQ(agent_sh("rm -r d"), 0);
  const json second = commit_all();
  EXPECT_EQ(conflicts(second), json::array()) << second.dump();
  EXPECT_FALSE(base_has("d"));
}

// A base file the sandbox deleted and made again that the host deleted meanwhile: the
// sandbox wants it with new content, the host wants it gone (a modify/delete conflict;
// tools that save by replacing a file look the same). Deleted on both sides is clean.
TEST_F(ControlCommitRecreatedDir, MadeAgainWhereTheHostDeletedItIsAConflict) {
  ASSERT_EQ(agent_sh("rm d/a d/sub/f && echo x > d/a"), 0);
  ASSERT_EQ(::unlink(base_path("d/a").c_str()), 0);
  ASSERT_EQ(::unlink(base_path("d/sub/f").c_str()), 0);
  const json result = commit_all();
  EXPECT_EQ(conflicts(result), (json{"/d/a"})) << result.dump();
  EXPECT_FALSE(base_has("d/a"));
  EXPECT_EQ(changes(), (std::vector<std::string>{"added /d/a"}));  // it stays to settle
}

// Deleted on both sides and settled by a commit: a file the sandbox makes there later is
// new, not an edit of the deleted one, and the layer keeps nothing of it once committed.
TEST_F(ControlCommitRecreatedDir, MadeAfterBothSidesDeletedItIsNew) {
  ASSERT_EQ(agent_sh("rm d/a"), 0);
  ASSERT_EQ(::unlink(base_path("d/a").c_str()), 0);
  const json settled = commit_all();
  EXPECT_EQ(conflicts(settled), json::array()) << settled.dump();
  ASSERT_EQ(agent_sh("echo later > d/a"), 0);
  const json result = commit_all();
  expect_kept(result, json::array(), "d/a", "later\n");
  EXPECT_TRUE(changes().empty());
}

}  // namespace
}  // namespace agentfense::fs::testing
