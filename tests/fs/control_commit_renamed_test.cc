// A file renamed onto a name replaces what the base held there: the commit overwrites
// that base version, so it must still be the one the sandbox replaced. Another sandbox's
// commit or an edit on the host since then is a conflict, not a lost update; and the
// deletion of the name the content came from is refused with it (commit_renames.h).
#include <filesystem>

#include "control_fixture.h"

namespace agentfense::fs::testing {
namespace {

using nlohmann::json;

class ControlCommitRenamed : public ControlledFs {
 protected:
  void SetUp() override {
    ControlledFs::SetUp();
    base_file("a", "A\n");
    base_file("b", "B\n");
    base_file("c", "C\n");
    mount_writable();
  }
  // `result` applied nothing and refused `conflicts` as conflicts.
  void expect_conflicts(const json& result, const json& conflicts) {
    EXPECT_EQ(result.value("conflicts", json::array()), conflicts) << result.dump();
    EXPECT_EQ(result.value("applied", json::array()), json::array()) << result.dump();
  }
};

// The finding: `mv a b` over a base b, the host changes b, the commit wrote a's content
// over it and deleted a.
TEST_F(ControlCommitRenamed, BaseFileRenamedOverIsCheckedForChanges) {
  ASSERT_EQ(agent_sh("mv a b"), 0);
  host_writes("b", "theirs, written meanwhile\n");
  expect_conflicts(commit_all(), json{"/a", "/b"});
  EXPECT_EQ(read_base("b"), "theirs, written meanwhile\n");
  EXPECT_EQ(read_base("a"), "A\n");
}

// The sandbox edited b (a copy-up) before renaming a over it: the version it saw first.
TEST_F(ControlCommitRenamed, EditedFileRenamedOverKeepsTheVersionFirstSeen) {
  ASSERT_EQ(agent_sh("echo more >> b && mv a b"), 0);
  host_writes("b", "theirs, written meanwhile\n");
  expect_conflicts(commit_all(), json{"/a", "/b"});
  EXPECT_EQ(read_base("b"), "theirs, written meanwhile\n");
}

// A name the base did not have when the sandbox renamed onto it: one the host made since
// is not the sandbox's to overwrite, as for a file the sandbox created there.
TEST_F(ControlCommitRenamed, NameTheBaseGainedSinceIsAConflict) {
  ASSERT_EQ(agent_sh("mv a new"), 0);
  host_writes("new", "theirs\n");
  expect_conflicts(commit_all(), json{"/a", "/new"});
  EXPECT_EQ(read_base("new"), "theirs\n");
  EXPECT_EQ(read_base("a"), "A\n");
}

// A second rename onto the same name replaces the first one's content, not the base
// version: the version replaced is still the one the first rename saw.
TEST_F(ControlCommitRenamed, SecondRenameOverTheSameNameKeepsTheFirstVersion) {
  ASSERT_EQ(agent_sh("mv a b"), 0);
  host_writes("b", "theirs, written meanwhile\n");
  ASSERT_EQ(agent_sh("mv c b"), 0);
  const json result = commit_all();
  EXPECT_EQ(result.value("conflicts", json::array()), (json{"/b", "/c"})) << result.dump();
  EXPECT_EQ(read_base("b"), "theirs, written meanwhile\n");
  EXPECT_EQ(read_base("c"), "C\n");
  // a's content went nowhere the commit refused (c's replaced it): its deletion stands.
  EXPECT_EQ(result["applied"], (json{"/a"})) << result.dump();
}

// Content renamed over b and then moved on: the commit deletes b, which must still be the
// version the sandbox replaced.
TEST_F(ControlCommitRenamed, RenamedOnAgainDeletesOnlyTheVersionReplaced) {
  ASSERT_EQ(agent_sh("mv a b"), 0);
  host_writes("b", "theirs, written meanwhile\n");
  ASSERT_EQ(agent_sh("mv b elsewhere && ls"), 0);
  const json result = commit_all();
  EXPECT_EQ(result.value("conflicts", json::array()), (json{"/b"})) << result.dump();
  EXPECT_EQ(read_base("b"), "theirs, written meanwhile\n");
}

// Nothing changed on the host: all of it commits, as before.
TEST_F(ControlCommitRenamed, UnchangedBaseCommitsEveryRename) {
  ASSERT_EQ(agent_sh("mv a b && mv c new && echo x > t && mv t c"), 0);
  const json result = commit_all();
  EXPECT_EQ(result.value("conflicts", json::array()), json::array()) << result.dump();
  EXPECT_EQ(result["applied"], (json{"/a", "/b", "/c", "/new"})) << result.dump();
  EXPECT_FALSE(base_has("a"));
  EXPECT_EQ(read_base("b"), "A\n");
  EXPECT_EQ(read_base("new"), "C\n");
  EXPECT_EQ(read_base("c"), "x\n");
  EXPECT_TRUE(changes().empty());
}

}  // namespace
}  // namespace agentfense::fs::testing
