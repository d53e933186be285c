// Hard links across a commit or discard while the mount stays live. The sandbox keeps one
// node for every name of a file linked in upper (fs/inode_links.cc); the commit copies
// each name into the base as a file of its own and takes it out of upper. Names that
// left the group must leave the node too: the node went on reaching the host through its
// first name, so a rename of another name failed (EBADF, or ENOENT when both names were
// new) and a write through it landed in the first name's file.
#include <string>

#include "control_fixture.h"

namespace agentfense::fs::testing {
namespace {

using nlohmann::json;
using Paths = std::vector<std::string>;

class ControlCommitLinks : public ControlledFs {
 protected:
  void SetUp() override {
    ControlledFs::SetUp();
    base_file("top.txt", "top\n");
    base_dir("d");
    base_dir("docs");
    mount_writable();
  }
};

TEST_F(ControlCommitLinks, CommittedNamesOfALinkedFileAreFilesOfTheirOwn) {
  // A base file linked, and a new file linked: each with its first name elsewhere.
  ASSERT_EQ(agent_sh("ln top.txt d/e && echo n > d/n && ln d/n d/m"), 0);
  const json result = call({{"op", "commit"}});
  EXPECT_EQ(result["applied"], (json{"/d/e", "/d/m", "/d/n"})) << result.dump();
  EXPECT_TRUE(changes().empty());

  std::string out;
  EXPECT_EQ(agent_sh("mv d/e docs/ 2>&1 && mv d/m docs/ 2>&1 && echo more >> docs/e && "
                     "echo other >> docs/m && cat top.txt docs/e d/n docs/m",
                     &out),
            0)
      << out;
  EXPECT_EQ(out, "top\ntop\nmore\nn\nn\nother\n");
  EXPECT_EQ(changes(), (Paths{"deleted /d/e", "deleted /d/m", "added /docs/e", "added /docs/m"}));
  EXPECT_EQ(call({{"op", "commit"}})["conflicts"], json::array());
  EXPECT_EQ(read_base("top.txt"), "top\n");
  EXPECT_EQ(read_base("d/n"), "n\n");
  EXPECT_EQ(read_base("docs/e"), "top\nmore\n");
  EXPECT_EQ(read_base("docs/m"), "n\nother\n");
  EXPECT_FALSE(base_has("d/e") || base_has("d/m"));
}

// A commit of some names of a group: the committed ones are base files now, the others
// still one upper file (a write through one is read through the other).
TEST_F(ControlCommitLinks, ACommitOfSomeNamesSplitsOnlyThose) {
  ASSERT_EQ(agent_sh("echo n > d/n && ln d/n d/m && ln d/n docs/k && ln d/n docs/j"), 0);
  const json result = call({{"op", "commit"}, {"paths", {"/d/n", "/docs/k"}}});
  EXPECT_EQ(result["applied"], (json{"/d/n", "/docs/k"})) << result.dump();

  std::string out;
  EXPECT_EQ(agent_sh("echo more >> d/m && cat d/n docs/k docs/j && mv docs/j docs/i 2>&1 && "
                     "echo base >> d/n && cat d/m docs/i",
                     &out),
            0)
      << out;
  EXPECT_EQ(out, "n\nn\nn\nmore\nn\nmore\nn\nmore\n");
  EXPECT_EQ(read_base("d/n"), "n\n");
  EXPECT_EQ(changes(), (Paths{"added /d/m", "modified /d/n", "added /docs/i"}));
}

TEST_F(ControlCommitLinks, ADiscardTakesTheLinkedNamesAway) {
  ASSERT_EQ(agent_sh("ln top.txt d/e && cat d/e >/dev/null"), 0);
  EXPECT_EQ(call({{"op", "discard"}}), (json{{"ok", true}}));
  std::string out;
  EXPECT_EQ(agent_sh("ls d; cat top.txt; test ! -e d/e || echo still there", &out), 0) << out;
  EXPECT_EQ(out, "top\n");
}

}  // namespace
}  // namespace agentfense::fs::testing
