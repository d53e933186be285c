// A base directory the sandbox deleted (or emptied) and made again, then renamed away
// (`rm -rf d && mkdir d && mv d e`): the commit deletes the base d with what it held, so
// those entries must still be the versions the sandbox deleted. The rename used to take
// their deletion stamps along to e, where the base has nothing: the commit then deleted
// the host's newer d/f with no conflict.

#include <filesystem>

#include "control_fixture.h"

namespace agentfense::fs::testing {
namespace {

using nlohmann::json;

class ControlCommitMovedAwayDir : public ControlledFs {
 protected:
  void SetUp() override {
    ControlledFs::SetUp();
    base_file("a", "A\n");
    base_file("d/f", "F\n");
    base_file("d/g", "G\n");
    mount_writable();
  }
};

// The finding, and the variants the fuzz found: a file made in d before the rename, d made
// again after it, d made by a rename onto it, a base file renamed into it.
class ControlCommitMovedAwayDirVariant : public ControlCommitMovedAwayDir,
                                         public ::testing::WithParamInterface<const char*> {};

TEST_P(ControlCommitMovedAwayDirVariant, HostEditOfADeletedEntryIsAConflict) {
  ASSERT_EQ(agent_sh(GetParam()), 0);
  host_writes("d/f", "theirs f\n");
  const json result = commit_all();
  EXPECT_NE(conflicts(result), json::array()) << result.dump();
  EXPECT_EQ(read_base("d/f"), "theirs f\n");
}

INSTANTIATE_TEST_SUITE_P(Commands, ControlCommitMovedAwayDirVariant,
                         ::testing::Values("rm -rf d && mkdir d && mv d e",
                                           "rm -rf d && mkdir d && echo n > d/n && mv d e",
                                           "rm -rf d && mkdir d && echo n > d/f && mv d e",
                                           "rm -rf d && mkdir d && mv d e && mkdir d",
                                           "rm -rf d && mkdir x && mv -T x d && mv d e",
                                           "rm -rf d && mkdir d && mv a d/f && mv d e"));

// A commit of d alone checks them too, not only one of everything.
TEST_F(ControlCommitMovedAwayDir, PartialCommitOfTheSourceChecksThem) {
  ASSERT_EQ(agent_sh("rm -rf d && mkdir d && mv d e"), 0);
  host_writes("d/f", "theirs f\n");
  const json first = call({{"op", "commit"}, {"paths", {"/d"}}});
  expect_kept(first, json{"/d"}, "d/f", "theirs f\n");
  const json rest = commit_all();
  expect_kept(rest, json{"/d"}, "d/f", "theirs f\n");
  EXPECT_TRUE(base_has("e"));
}

// Sweep U, U11: the marker that hid the base d moved with it to e, where the base has
// nothing; there it hid what the host (or another sandbox) made at e later, and the
// commit deleted that with no conflict. An added directory merges with one the base
// gains, as `mkdir e` does.
class ControlCommitMovedAwayDirTarget : public ControlCommitMovedAwayDir,
                                        public ::testing::WithParamInterface<const char*> {};

TEST_P(ControlCommitMovedAwayDirTarget, KeepsWhatTheHostMakesAtTheTarget) {
  ASSERT_EQ(agent_sh(GetParam()), 0);
  std::filesystem::create_directory(base_path("e"));
  host_writes("e/new", "theirs\n");
  const json result = commit_all();
  EXPECT_EQ(read_base("e/new"), "theirs\n") << result.dump();
  EXPECT_EQ(conflicts(result), json::array()) << result.dump();
}

INSTANTIATE_TEST_SUITE_P(Commands, ControlCommitMovedAwayDirTarget,
                         ::testing::Values("rm -rf d && mkdir d && mv -T d e",
                                           "rm -rf d && mkdir d && echo n > d/n && mv -T d e",
                                           "mkdir x && mv -T x e"));

// Nothing changed on the host: all of it commits, as before.
TEST_F(ControlCommitMovedAwayDir, UnchangedBaseCommits) {
  ASSERT_EQ(agent_sh("rm -rf d && mkdir d && echo n > d/f && mv a d/a && mv d e"), 0);
  const json result = commit_all();
  EXPECT_EQ(conflicts(result), json::array()) << result.dump();
  EXPECT_EQ(result.value("denied", json::array()), json::array()) << result.dump();
  EXPECT_FALSE(base_has("d"));
  EXPECT_FALSE(base_has("a"));
  EXPECT_EQ(read_base("e/f"), "n\n");
  EXPECT_EQ(read_base("e/a"), "A\n");
  EXPECT_TRUE(changes().empty());
}

}  // namespace
}  // namespace agentfense::fs::testing
