// Issue 9 item 1: what a sandbox cannot see never leaves it through its write layer.
// A directory the sandbox removed or replaced while it held hidden (level none) entries
// must not list them, diff them, or delete them at commit.
#include "layer/changes.h"
#include "layer_test_util.h"

namespace agentfense::layer::testing {
namespace {

using Strings = std::vector<std::string>;

constexpr char kSecret[] = "API_KEY=s3cr3t\n";

std::string paths_of(const std::vector<Change>& changes) {
  std::string out;
  for (const Change& c : changes) {
    out += c.kind == ChangeKind::kAdded ? "A " : c.kind == ChangeKind::kModified ? "M " : "D ";
    out += std::string(1, c.type) + " " + c.path + "\n";
  }
  return out;
}

class HiddenEntriesTest : public LayerTest {
 protected:
  void SetUp() override {
    LayerTest::SetUp();
    write_file(base("output/cfg/.env"), kSecret);
    write_file(base("output/cfg/app.yaml"), "port: 80\n");
    write_file(base("output/cfg/deep/notes.txt"), "notes\n");
    write_file(base("output/only-secret/.env"), kSecret);
  }
  // The development preset's shape: write everything, hide .env files everywhere.
  const policy::Policy policy_ = policy_of({"**=write", "**/.env*=none:100"});
  std::vector<Change> changes() { return list_changes(base_fd_.get(), *journal_, Scope(policy_)); }
  std::string diff() { return render_diff(base_fd_.get(), *journal_, Scope(policy_), changes()); }
  CommitResult commit_all() { return commit(base_fd_.get(), *journal_, Scope(policy_)); }

  // `rm -rf output/cfg` as the fs records it: the visible children, then the directory.
  void remove_cfg() {
    EXPECT_EQ(journal_->add_whiteout("/output/cfg/app.yaml"), 0);
    EXPECT_EQ(journal_->add_whiteout("/output/cfg/deep"), 0);
    EXPECT_EQ(journal_->add_whiteout("/output/cfg"), 0);
  }
  // `mkdir output/cfg` after that, as the fs records it (ops_create.cc finish_create).
  void recreate_cfg() {
    fs::create_directories(up("output/cfg"));
    EXPECT_EQ(journal_->remove_marker("/output/cfg"), 0);
    EXPECT_EQ(journal_->add_opaque("/output/cfg"), 0);
  }
};

TEST_F(HiddenEntriesTest, RemovedDirectoryListsOnlyWhatTheSandboxSaw) {
  remove_cfg();
  EXPECT_EQ(paths_of(changes()), "D f /output/cfg/app.yaml\nD d /output/cfg/deep\n");
}

TEST_F(HiddenEntriesTest, RecreatedDirectoryNeitherListsNorDiffsHiddenChildren) {
  // rm -rf output/cfg && mkdir output/cfg (the attack).
  remove_cfg();
  recreate_cfg();
  EXPECT_EQ(paths_of(changes()), "D f /output/cfg/app.yaml\nD d /output/cfg/deep\n");
  const std::string text = diff();
  EXPECT_EQ(text.find("s3cr3t"), std::string::npos) << text;
  EXPECT_EQ(text.find(".env"), std::string::npos) << text;
  EXPECT_NE(text.find("-port: 80"), std::string::npos) << text;
}

TEST_F(HiddenEntriesTest, DirectoryRenamedOverNeitherListsNorDiffsHiddenChildren) {
  // mv -T newdir output/cfg: the fs marks the target opaque and moves upper content in.
  write_file(up("output/cfg/fresh.txt"), "fresh\n");
  EXPECT_EQ(journal_->add_opaque("/output/cfg"), 0);
  EXPECT_EQ(paths_of(changes()),
            "D f /output/cfg/app.yaml\nD d /output/cfg/deep\nA f /output/cfg/fresh.txt\n");
  EXPECT_EQ(diff().find("s3cr3t"), std::string::npos);
}

TEST_F(HiddenEntriesTest, CommitKeepsHiddenEntriesAndTheDirectoryHoldingThem) {
  remove_cfg();
  recreate_cfg();
  const CommitResult result = commit_all();
  EXPECT_EQ(result.applied, (Strings{"/output/cfg/app.yaml", "/output/cfg/deep"}));
  EXPECT_TRUE(result.denied.empty());
  EXPECT_TRUE(result.conflicts.empty());
  EXPECT_EQ(read_file(base("output/cfg/.env")), kSecret);
  EXPECT_FALSE(fs::exists(base("output/cfg/app.yaml")));
  EXPECT_FALSE(fs::exists(base("output/cfg/deep")));
  // Nothing is left to review, and nothing in the result names the hidden file.
  EXPECT_EQ(paths_of(changes()), "");
  for (const auto& [path, why] : result.reasons) EXPECT_EQ(why.find(".env"), std::string::npos);
}

TEST_F(HiddenEntriesTest, RemovingADirectoryHoldingOnlyHiddenEntriesChangesNothing) {
  EXPECT_EQ(journal_->add_whiteout("/output/only-secret"), 0);
  EXPECT_EQ(paths_of(changes()), "");
  const CommitResult result = commit_all();
  EXPECT_TRUE(result.applied.empty());
  EXPECT_EQ(read_file(base("output/only-secret/.env")), kSecret);
  // The sandbox's own view keeps the directory removed: its marker stays.
  EXPECT_TRUE(journal_->is_whiteout("/output/only-secret"));
}

TEST_F(HiddenEntriesTest, ReplacingADirectoryHoldingHiddenEntriesByAFileIsAConflict) {
  remove_cfg();
  write_file(up("output/cfg"), "now a file\n");
  const CommitResult result = commit_all();
  ASSERT_EQ(result.conflicts, Strings{"/output/cfg"});
  EXPECT_EQ(result.reasons.at("/output/cfg").find(".env"), std::string::npos);
  EXPECT_EQ(read_file(base("output/cfg/.env")), kSecret);
  EXPECT_TRUE(fs::is_directory(base("output/cfg")));
}

TEST_F(HiddenEntriesTest, HiddenEntriesDeeperInARemovedTreeStayToo) {
  write_file(base("output/tree/a/b/.env.local"), kSecret);
  write_file(base("output/tree/a/b/c.txt"), "c\n");
  write_file(base("output/tree/x.txt"), "x\n");
  EXPECT_EQ(journal_->add_whiteout("/output/tree"), 0);
  EXPECT_EQ(paths_of(changes()), "D f /output/tree/a/b/c.txt\nD f /output/tree/x.txt\n");
  commit_all();
  EXPECT_EQ(read_file(base("output/tree/a/b/.env.local")), kSecret);
  EXPECT_FALSE(fs::exists(base("output/tree/a/b/c.txt")));
  EXPECT_FALSE(fs::exists(base("output/tree/x.txt")));
}

TEST_F(HiddenEntriesTest, AWholeVisibleDirectoryIsStillReportedOnce) {
  EXPECT_EQ(journal_->add_whiteout("/output/cfg/deep"), 0);
  EXPECT_EQ(paths_of(changes()), "D d /output/cfg/deep\n");
}

TEST_F(HiddenEntriesTest, HiddenUpperEntriesAreNotListed) {
  // A write layer holding an entry at a hidden path (e.g. made before a policy change).
  write_file(up("output/cfg/.env"), "planted\n");
  EXPECT_EQ(paths_of(changes()), "");
}

// Under a directory-only write rule a base *file* of that name is hidden, and the agent
// may make its directory there as if the name were free (the fs answers mkdir as for an
// absent name). The hidden file is never listed, diffed or replaced: the directory and
// what the agent put in it stay in the sandbox as conflicts.
class HiddenFileUnderNewDirectoryTest : public LayerTest {
 protected:
  const policy::Policy policy_ = policy_of({"out/=write"});
};

TEST_F(HiddenFileUnderNewDirectoryTest, IsNeverListedDiffedOrReplaced) {
  write_file(base("out"), kSecret);
  write_file(up("out/x.txt"), "new\n");  // mkdir out; echo new > out/x.txt
  const Scope scope(policy_);
  const std::vector<Change> changes = list_changes(base_fd_.get(), *journal_, scope);
  EXPECT_EQ(paths_of(changes), "A d /out\nA f /out/x.txt\n");
  EXPECT_EQ(render_diff(base_fd_.get(), *journal_, scope, changes).find("s3cr3t"),
            std::string::npos);
  const CommitResult result = commit(base_fd_.get(), *journal_, scope);
  EXPECT_TRUE(result.applied.empty());
  EXPECT_EQ(result.conflicts, (Strings{"/out", "/out/x.txt"}));
  EXPECT_EQ(result.reasons.at("/out"),
            "the codebase keeps an entry at this path that the rules hide");
  EXPECT_EQ(result.reasons.at("/out/x.txt"), "a parent of it is not a directory in the codebase");
  EXPECT_EQ(read_file(base("out")), kSecret);
}

}  // namespace
}  // namespace agentfense::layer::testing
