// A base file or symlink the agent deletes and replaces by a directory (mkdir, or a
// directory moved there, or `mv` copying a base directory there) commits like any other
// replacement, through the real fs: the layer keeps the record that the base entry was
// deleted, so the commit neither takes the directory for one made over a base file the
// sandbox never saw, nor loses the files moved into it.
#include <filesystem>

#include "control_fixture.h"

namespace agentfense::fs::testing {
namespace {

using nlohmann::json;
using Paths = std::vector<std::string>;

class ControlCommitReplaced : public ControlledFs {
 protected:
  void SetUp() override {
    ControlledFs::SetUp();
    base_file("f", "top\n");
    base_file("d/one", "1\n");
    base_file("d/two", "2\n");
    std::filesystem::create_symlink("f", base_path("s"));
    mount_writable();
  }
  static void expect_nothing_refused(const json& result) {
    EXPECT_EQ(result.value("conflicts", json::array()), json::array()) << result.dump();
    EXPECT_EQ(result.value("denied", json::array()), json::array()) << result.dump();
  }
};

TEST_F(ControlCommitReplaced, FileReplacedByANewDirectory) {
  ASSERT_EQ(agent_sh("rm f && mkdir f && echo new > f/new"), 0);
  EXPECT_EQ(changes(), (Paths{"modified /f", "added /f/new"}));
  const json result = commit_all();
  expect_nothing_refused(result);
  EXPECT_EQ(read_base("f/new"), "new\n");
  EXPECT_TRUE(changes().empty());
}

TEST_F(ControlCommitReplaced, SymlinkReplacedByANewDirectory) {
  ASSERT_EQ(agent_sh("rm s && mkdir s"), 0);
  EXPECT_EQ(changes(), (Paths{"modified /s"}));
  expect_nothing_refused(commit_all());
  EXPECT_TRUE(std::filesystem::is_directory(std::filesystem::symlink_status(base_path("s"))));
  EXPECT_TRUE(changes().empty());
}

// `mv d f` over a deleted base file: mv copies the base directory (EXDEV), then deletes
// it. The deletion of d used to commit and f be refused: d's files were gone.
TEST_F(ControlCommitReplaced, BaseDirectoryMovedOverADeletedFile) {
  ASSERT_EQ(agent_sh("rm f && mv d f"), 0);
  const json result = commit_all();
  expect_nothing_refused(result);
  EXPECT_FALSE(base_has("d"));
  EXPECT_EQ(read_base("f/one"), "1\n");
  EXPECT_EQ(read_base("f/two"), "2\n");
  EXPECT_TRUE(changes().empty());
}

// A directory made in the sandbox and renamed over the deleted file (do_rename, not
// mkdir), and a directory and a file trading places.
TEST_F(ControlCommitReplaced, NewDirectoryRenamedOverADeletedFile) {
  ASSERT_EQ(agent_sh("rm f && mkdir t && echo n > t/n && mv t f"), 0);
  EXPECT_EQ(changes(), (Paths{"modified /f", "added /f/n"}));
  expect_nothing_refused(commit_all());
  EXPECT_EQ(read_base("f/n"), "n\n");
  EXPECT_TRUE(changes().empty());
}

TEST_F(ControlCommitReplaced, DirectoryAndFileTradePlaces) {
  ASSERT_EQ(agent_sh("mv -T d t && mv -T f d && mv -T t f"), 0);
  expect_nothing_refused(commit_all());
  EXPECT_EQ(read_base("d"), "top\n");
  EXPECT_EQ(read_base("f/one"), "1\n");
  EXPECT_EQ(read_base("f/two"), "2\n");
  EXPECT_TRUE(changes().empty());
}

// The deletion the directory stands on is checked like any deletion: a file the host
// rewrote after the sandbox deleted it is not replaced, by either way of making the
// directory, and the directory stays pending.
TEST_F(ControlCommitReplaced, FileRewrittenOnTheHostSinceIsAConflict) {
  base_file("g", "top\n");
  ASSERT_EQ(agent_sh("rm f && mkdir f && rm g && mkdir t && mv t g"), 0);
  host_writes("f", "theirs, written on the host meanwhile\n");
  host_writes("g", "theirs, written on the host meanwhile\n");
  const json result = commit_all();
  EXPECT_EQ(result["conflicts"], (json{"/f", "/g"})) << result.dump();
  EXPECT_EQ(read_base("f"), "theirs, written on the host meanwhile\n");
  EXPECT_EQ(read_base("g"), "theirs, written on the host meanwhile\n");
}

}  // namespace
}  // namespace agentfense::fs::testing
