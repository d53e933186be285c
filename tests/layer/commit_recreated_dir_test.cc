// Commits of a base directory the sandbox deleted and made again (an opaque marker over
// it): the base entries it deleted there go, those the base gained since (no stamp of
// their own, and the directory's deletion stamp no longer matches) are conflicts, in every
// pass and every later commit. Journals that never stamped deletions commit as before.
#include <sys/stat.h>

#include "layer/changes.h"
#include "layer_test_util.h"

namespace agentfense::layer::testing {
namespace {

using Strings = std::vector<std::string>;

class CommitRecreatedDirTest : public LayerTest {
 protected:
  void SetUp() override {
    LayerTest::SetUp();
    write_file(base("docs/a.md"), "a\n");
    write_file(base("docs/deep/b.md"), "b\n");
  }
  size_t remaining() { return list_changes(base_fd_.get(), *journal_, Scope(write_all())).size(); }
  CommitResult commit_all(const Strings& only = {}, std::size_t pass_bytes = kCommitPassBytes) {
    return commit(base_fd_.get(), *journal_, Scope(write_all()), only, {}, pass_bytes);
  }

  // `rm -r <rel> && mkdir <rel>` as the fs records it: each base entry's stamp and
  // whiteout, children first, then the directory made again over its own.
  void sandbox_recreate(const std::string& rel) {
    remove_recorded(rel);
    EXPECT_EQ(journal_->remove_marker("/" + rel), 0);
    EXPECT_EQ(journal_->add_opaque("/" + rel), 0);
    mirror_dir(rel);
  }
  void remove_recorded(const std::string& rel) {
    if (fs::is_directory(fs::symlink_status(base(rel)))) {
      for (const auto& entry : fs::directory_iterator(base(rel)))
        remove_recorded(rel + "/" + entry.path().filename().string());
    }
    EXPECT_EQ(journal_->record_copy_up("/" + rel, stamp_of_path(base(rel))), 0);
    EXPECT_EQ(journal_->add_whiteout("/" + rel), 0);
  }
};

TEST_F(CommitRecreatedDirTest, EntryTheBaseGainedIsAConflictInEveryCommit) {
  sandbox_recreate("docs");
  write_file(up("docs/fresh.md"), "fresh\n");
  write_file(base("docs/theirs.md"), "theirs\n");
  const CommitResult result = commit_all();
  EXPECT_EQ(result.conflicts, Strings{"/docs/theirs.md"});
  EXPECT_EQ(result.applied, (Strings{"/docs/a.md", "/docs/deep", "/docs/fresh.md"}));
  EXPECT_EQ(read_file(base("docs/theirs.md")), "theirs\n");
  // The marker became whiteouts; the directory's stamp stays while it hides one unseen.
  EXPECT_TRUE(journal_->opaques().empty());
  EXPECT_EQ(journal_->whiteouts(), Strings{"/docs/theirs.md"});
  EXPECT_TRUE(journal_->seen_at("/docs"));
  reopen_journal();
  EXPECT_EQ(commit_all().conflicts, Strings{"/docs/theirs.md"});
  EXPECT_EQ(read_file(base("docs/theirs.md")), "theirs\n");
}

// A partial commit of an entry the sandbox deleted there writes into the directory and
// turns its marker into whiteouts, one of them over the base's newcomer: the commit of
// the directory itself (made again with another mode) must not take away the stamp that
// tells that whiteout from the sandbox's deletions, or the same commit deleted it.
TEST_F(CommitRecreatedDirTest, PartialCommitOfADeletionThenTheRest) {
  sandbox_recreate("docs");
  fs::permissions(up("docs"), fs::perms::owner_all);
  write_file(base("docs/theirs.md"), "theirs\n");
  EXPECT_EQ(commit_all({"/docs/a.md"}).applied, Strings{"/docs/a.md"});
  const CommitResult result = commit_all();
  EXPECT_EQ(result.conflicts, Strings{"/docs/theirs.md"});
  EXPECT_EQ(read_file(base("docs/theirs.md")), "theirs\n");
  EXPECT_FALSE(fs::exists(base("docs/deep")));
  reopen_journal();
  EXPECT_EQ(commit_all().conflicts, Strings{"/docs/theirs.md"});
  EXPECT_EQ(read_file(base("docs/theirs.md")), "theirs\n");
}

// Each pass turns the marker into whiteouts once it wrote there: the passes after it
// still know the newcomer.
TEST_F(CommitRecreatedDirTest, PassesAfterTheFirstStillRefuseIt) {
  sandbox_recreate("docs");
  write_file(up("docs/fresh.md"), "fresh\n");
  write_file(base("docs/zz.md"), "theirs\n");
  const CommitResult result = commit_all({}, /*pass_bytes=*/1);
  EXPECT_EQ(result.conflicts, Strings{"/docs/zz.md"});
  EXPECT_EQ(read_file(base("docs/zz.md")), "theirs\n");
}

// The sandbox made a file of the same name: writing it would replace the base's.
TEST_F(CommitRecreatedDirTest, NewFileOverTheBasesNewcomerIsAConflict) {
  sandbox_recreate("docs");
  write_file(up("docs/both.md"), "mine\n");
  write_file(base("docs/both.md"), "theirs\n");
  const CommitResult result = commit_all();
  EXPECT_EQ(result.conflicts, Strings{"/docs/both.md"});
  EXPECT_EQ(read_file(base("docs/both.md")), "theirs\n");
}

// And inside a directory the base gained there: both are new to the sandbox.
TEST_F(CommitRecreatedDirTest, InsideADirectoryTheBaseGained) {
  sandbox_recreate("docs");
  write_file(base("docs/new/t.md"), "theirs\n");
  fs::create_directories(up("docs/new"));
  write_file(up("docs/new/t.md"), "mine\n");
  const CommitResult result = commit_all();
  EXPECT_EQ(result.conflicts, Strings{"/docs/new/t.md"});
  EXPECT_EQ(read_file(base("docs/new/t.md")), "theirs\n");
}

// Nothing new: everything goes, and the directory's deletion stamp with it.
TEST_F(CommitRecreatedDirTest, UnchangedBaseCommitsAndDropsTheDirectoryStamp) {
  sandbox_recreate("docs");
  write_file(up("docs/fresh.md"), "fresh\n");
  const CommitResult result = commit_all();
  EXPECT_TRUE(result.conflicts.empty()) << result.conflicts.front();
  EXPECT_EQ(remaining(), 0u);
  EXPECT_TRUE(journal_->whiteouts().empty());
  EXPECT_FALSE(journal_->seen_at("/docs"));  // a later `rm -r docs` is checked afresh
}

// A journal from before deletions were stamped (522e540) holds the marker alone: as
// before, the commit deletes what the directory holds.
TEST_F(CommitRecreatedDirTest, JournalWithoutDeletionStampsCommitsAsBefore) {
  mirror_dir("docs");
  EXPECT_EQ(journal_->add_opaque("/docs"), 0);
  write_file(base("docs/theirs.md"), "theirs\n");
  const CommitResult result = commit_all();
  EXPECT_TRUE(result.conflicts.empty()) << result.conflicts.front();
  EXPECT_FALSE(fs::exists(base("docs/theirs.md")));
}

// A directory renamed onto one the sandbox had emptied, in a journal from before `K`: the
// rename (`R`) dropped the stamps of the entries deleted there. With the base directory
// unchanged, they are deleted as before.
TEST_F(CommitRecreatedDirTest, OldRenameOntoItCommitsAsBeforeWhenUnchanged) {
  const BaseStamp docs = stamp_of_path(base("docs"));
  fs::create_directories(up("x"));
  write_file(up("x/fresh.md"), "fresh\n");
  fs::rename(up("x"), up("docs"));
  EXPECT_EQ(journal_->rename_prefix("/x", "/docs"), 0);
  EXPECT_EQ(journal_->record_copy_up("/docs", docs), 0);
  EXPECT_EQ(journal_->add_opaque("/docs"), 0);
  const CommitResult result = commit_all();
  EXPECT_TRUE(result.conflicts.empty()) << result.conflicts.front();
  EXPECT_FALSE(fs::exists(base("docs/a.md")));
  EXPECT_EQ(read_file(base("docs/fresh.md")), "fresh\n");
}

}  // namespace
}  // namespace agentfense::layer::testing
