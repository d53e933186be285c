// A base directory replaced by renaming the sandbox's own directory onto it (`mkdir e &&
// mv -T e d`, as tools that replace a directory atomically do) replaces it as
// `rmdir d && mkdir d` does: the commit deletes the base entries the sandbox saw there,
// and an entry the host put there since was never among them, so it is a conflict. The
// rename used to record no version of the directory: the commit deleted the host's new
// entry with no conflict.

#include <ostream>

#include "control_fixture.h"

namespace agentfense::fs::testing {
namespace {

using nlohmann::json;

class ControlCommitDirReplacedByRename : public ControlledFs {
 protected:
  void SetUp() override {
    ControlledFs::SetUp();
    base_dir("d");
    base_file("k/f", "F\n");
    base_file("s/sf", "SF\n");
    mount_writable();
  }
};

struct Replacement {
  const char* command;
  const char* dir;  // the base directory it replaces
};

void PrintTo(const Replacement& replacement, std::ostream* out) {
  *out << replacement.command;
}

class ControlCommitDirReplacedByRenameVariant : public ControlCommitDirReplacedByRename,
                                                public ::testing::WithParamInterface<Replacement> {
};

// The finding, and the variants the fuzz found: an empty directory, one with a file of
// the sandbox's, over a directory the sandbox emptied first, one a base directory moved
// to first (a copy: the fs refuses to rename a directory with base content).
TEST_P(ControlCommitDirReplacedByRenameVariant, HostsNewFileIsAConflict) {
  ASSERT_EQ(agent_sh(GetParam().command), 0);
  const std::string dir = GetParam().dir;
  host_writes(dir + "/new", "theirs\n");
  const json result = commit_all();
  expect_kept(result, json{"/" + dir + "/new"}, dir + "/new", "theirs\n");
  EXPECT_FALSE(base_has(dir + "/f"));
  // The conflict lasts: the commit wrote into the directory, which turned its marker
  // into whiteouts.
  const json again = commit_all();
  expect_kept(again, json{"/" + dir + "/new"}, dir + "/new", "theirs\n");
}

INSTANTIATE_TEST_SUITE_P(
    Commands, ControlCommitDirReplacedByRenameVariant,
    ::testing::Values(Replacement{"mkdir e && mv -T e d", "d"},
                      Replacement{"mkdir e && echo m > e/m && mv -T e d", "d"},
                      Replacement{"rm k/f && mkdir e && mv -T e k", "k"},
                      Replacement{"rm k/f && mkdir e && echo m > e/m && mv -T e k", "k"},
                      Replacement{"mv -T s e && mv -T e d", "d"}));

// Nobody else touched the directories: all of it commits, and nothing stays behind, so a
// later deletion of the directory is checked against the base as it is then.
TEST_F(ControlCommitDirReplacedByRename, UnchangedBaseCommits) {
  ASSERT_EQ(agent_sh("mkdir e && echo m > e/m && mv -T e d && rm k/f && mkdir x && "
                     "echo n > x/n && mv -T x k"),
            0);
  const json result = commit_all();
  EXPECT_EQ(conflicts(result), json::array()) << result.dump();
  EXPECT_EQ(read_base("d/m"), "m\n");
  EXPECT_EQ(read_base("k/n"), "n\n");
  EXPECT_FALSE(base_has("k/f"));
  EXPECT_TRUE(changes().empty());
  host_writes("d/later", "L\n");
  ASSERT_EQ(agent_sh("rm -r d"), 0);
  const json second = commit_all();
  EXPECT_EQ(conflicts(second), json::array()) << second.dump();
  EXPECT_FALSE(base_has("d"));
}

// Deleting the directory after the rename (before any commit) deletes what it replaced:
// the host's entry added since is still a conflict.
TEST_F(ControlCommitDirReplacedByRename, DeletedAfterTheRename) {
  ASSERT_EQ(agent_sh("mkdir e && mv -T e d && rmdir d"), 0);
  host_writes("d/new", "theirs\n");
  const json result = commit_all();
  EXPECT_NE(conflicts(result), json::array()) << result.dump();
  EXPECT_EQ(read_base("d/new"), "theirs\n");
}

}  // namespace
}  // namespace agentfense::fs::testing
