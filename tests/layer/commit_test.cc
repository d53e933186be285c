#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <optional>
#include <thread>

#include "layer/changes.h"
#include "layer/commit_lock.h"
#include "layer/file_install.h"
#include "layer_test_util.h"

namespace agentfense::layer::testing {
namespace {

using Strings = std::vector<std::string>;

class CommitTest : public LayerTest {
 protected:
  void SetUp() override {
    LayerTest::SetUp();
    write_file(base("README"), "hello\n");
    write_file(base("src/main.c"), "int main() {}\n");
    write_file(base("docs/a.md"), "a\n");
    write_file(base("docs/deep/b.md"), "b\n");
  }
  CommitResult commit_all(const policy::Policy& policy = write_all(), const Strings& only = {}) {
    return commit(base_fd_.get(), *journal_, Scope(policy), only);
  }
  size_t remaining() { return list_changes(base_fd_.get(), *journal_, Scope(write_all())).size(); }
};

TEST_F(CommitTest, AppliesAddModifyDeleteAndEmptiesLayer) {
  copy_up("src/main.c");
  write_file(up("src/main.c"), "int main() { return 0; }\n");
  write_file(up("src/new/util.c"), "util\n");
  EXPECT_EQ(journal_->add_whiteout("/README"), 0);
  const CommitResult result = commit_all();
  EXPECT_EQ(result.applied, (Strings{"/README", "/src/main.c", "/src/new", "/src/new/util.c"}));
  EXPECT_TRUE(result.denied.empty());
  EXPECT_TRUE(result.conflicts.empty());
  EXPECT_EQ(read_file(base("src/main.c")), "int main() { return 0; }\n");
  EXPECT_EQ(read_file(base("src/new/util.c")), "util\n");
  EXPECT_FALSE(fs::exists(base("README")));
  EXPECT_EQ(remaining(), 0u);
  EXPECT_TRUE(journal_->whiteouts().empty());
  EXPECT_FALSE(journal_->copy_up_stamp("/src/main.c"));
  EXPECT_TRUE(fs::is_empty(upper()));
}

// New files are published in batches (one flush per batch, file_install.h): more files
// than one batch holds, with a directory, a replaced file and a deletion between them,
// all land in order, complete, and nothing temporary is left in the base.
TEST_F(CommitTest, ManyFilesInBatchesAllLandWithNothingLeftBehind) {
  constexpr int kFiles = 700;
  for (int i = 0; i < kFiles; ++i) {
    write_file(up("out/a/f" + std::to_string(i)), "a" + std::to_string(i) + "\n");
  }
  write_file(up("out/b/sub/g"), "g\n");
  copy_up("src/main.c");
  write_file(up("src/main.c"), "int main() { return 1; }\n", 0600);
  EXPECT_EQ(journal_->add_whiteout("/docs/a.md"), 0);
  const CommitResult result = commit_all();
  EXPECT_TRUE(result.denied.empty()) << result.denied.front();
  EXPECT_TRUE(result.conflicts.empty());
  EXPECT_EQ(result.applied.size(), 1u + 1u + kFiles + 1u + 1u + 1u + 1u + 1u)
      << "out, out/a, its files, out/b, out/b/sub, g, docs/a.md, src/main.c";
  EXPECT_TRUE(std::is_sorted(result.applied.begin(), result.applied.end()));
  for (int i = 0; i < kFiles; ++i) {
    ASSERT_EQ(read_file(base("out/a/f" + std::to_string(i))), "a" + std::to_string(i) + "\n");
  }
  EXPECT_EQ(read_file(base("out/b/sub/g")), "g\n");
  EXPECT_EQ(read_file(base("src/main.c")), "int main() { return 1; }\n");
  EXPECT_EQ(mode_of(base("src/main.c")), 0600u);
  EXPECT_FALSE(fs::exists(base("docs/a.md")));
  for (const auto& entry : fs::recursive_directory_iterator(base(""))) {
    EXPECT_EQ(entry.path().filename().string().rfind(".agentfense-commit-", 0), std::string::npos)
        << entry.path();
  }
  EXPECT_EQ(remaining(), 0u);
  EXPECT_TRUE(fs::is_empty(upper()));
}

TEST_F(CommitTest, PreservesModeButStripsSetuidAndSetgid) {
  write_file(up("tool.sh"), "#!/bin/sh\n", 06755);
  ASSERT_EQ(mode_of(up("tool.sh")), 06755u);
  commit_all();
  EXPECT_EQ(mode_of(base("tool.sh")), 0755u);
}

TEST_F(CommitTest, SymlinksAreCommittedAsLinksNeverDereferenced) {
  fs::create_symlink("README", up("readme-link"));
  fs::create_directories(up("src"));
  fs::create_symlink("../docs/missing", up("src/dangling"));
  const CommitResult result = commit_all();
  EXPECT_EQ(result.applied, (Strings{"/readme-link", "/src/dangling"}));
  ASSERT_TRUE(fs::is_symlink(base("readme-link")));
  EXPECT_EQ(fs::read_symlink(base("readme-link")), "README");
  EXPECT_EQ(fs::read_symlink(base("src/dangling")), "../docs/missing");
}

TEST_F(CommitTest, RefusesBaseSymlinkSwapAndWritesNothingOutside) {
  const fs::path outside = root_ / "outside";
  fs::create_directories(outside);
  write_file(outside / "a.md", "outside original\n");
  write_file(outside / "deep/b.md", "outside b\n");
  copy_up("docs/a.md");
  write_file(up("docs/a.md"), "agent edit\n");
  write_file(up("docs/planted"), "planted\n");
  EXPECT_EQ(journal_->add_whiteout("/docs/deep/b.md"), 0);
  // Someone swaps the base directory for a symlink after the sandbox wrote.
  fs::remove_all(base("docs"));
  fs::create_symlink(outside, base("docs"));
  const CommitResult result = commit_all();
  EXPECT_TRUE(result.applied.empty());
  EXPECT_EQ(read_file(outside / "a.md"), "outside original\n");
  EXPECT_EQ(read_file(outside / "deep/b.md"), "outside b\n");
  EXPECT_FALSE(fs::exists(outside / "planted"));
  EXPECT_TRUE(fs::is_symlink(base("docs")));
  for (const std::string& path : result.denied) EXPECT_FALSE(result.reasons.at(path).empty());
}

TEST_F(CommitTest, DeniedPathsStayUntouchedAndListed) {
  copy_up("README");
  write_file(up("README"), "changed\n");
  write_file(up("allowed.txt"), "ok\n");
  const CommitResult result = commit_all(policy_of({"**=write", "/README=read:1"}));
  EXPECT_EQ(result.applied, Strings{"/allowed.txt"});
  EXPECT_EQ(result.denied, Strings{"/README"});
  EXPECT_EQ(read_file(base("README")), "hello\n");
  EXPECT_EQ(read_file(up("README")), "changed\n");
  EXPECT_EQ(remaining(), 1u);
}

TEST_F(CommitTest, DirectoryDeleteNeedsWriteOnVisibleDescendants) {
  EXPECT_EQ(journal_->add_whiteout("/docs"), 0);
  const CommitResult result = commit_all(policy_of({"**=write", "/docs/deep/b.md=read:1"}));
  EXPECT_EQ(result.denied, Strings{"/docs"});
  EXPECT_TRUE(fs::exists(base("docs/deep/b.md")));
  EXPECT_TRUE(fs::exists(base("docs/a.md")));
}

// A directory-type rule ("/gen/") matches the directory itself only as a directory, so
// commit must say which kind of entry it asks about — for the new entry and for every
// parent it creates.
TEST_F(CommitTest, AsksAboutDirectoriesAsDirectories) {
  write_file(up("gen/out/a.txt"), "generated\n");
  // "gen/" is a directory rule: "/gen" asked about as a file would match nothing.
  const CommitResult result = commit_all(policy_of({"gen/=write"}));
  EXPECT_TRUE(result.denied.empty());
  EXPECT_EQ(read_file(base("gen/out/a.txt")), "generated\n");
}

// Attack sweep J8: a rule hiding a name as a directory (`libs/*/.git/=none`) does not
// match a *file* of that name, so a `.git` file or symlink there was committed by its own
// level (write): a `.git` file naming another gitdir makes git on the host run what the
// agent wrote. The fs refuses to create one there; one in the layer anyway is refused
// too. A base `.git` file edited in place was there already and is applied as before.
TEST_F(CommitTest, RefusesFileOrSymlinkAtANameHiddenAsADirectory) {
  write_file(base("libs/foo/.git/config"), "[core]\n");
  write_file(base("libs/sub/.git"), "gitdir: ../../.git/modules/sub\n");
  write_file(base("libs/link/.git"), "gitdir: ../../.git/modules/link\n");
  write_file(up("libs/evil/.git"), "gitdir: /tmp/evil\n");
  fs::create_directories(up("libs/s"));
  fs::create_symlink("../../elsewhere", up("libs/s/.git"));
  copy_up("libs/sub/.git");
  write_file(up("libs/sub/.git"), "gitdir: ../../.git/modules/sub2\n");
  mirror_dir("libs/link");
  fs::create_symlink("../../elsewhere", up("libs/link/.git"));  // over a base file
  const CommitResult result = commit_all(policy_of({"**=write", "libs/*/.git/=none:100"}));
  EXPECT_EQ(result.denied, (Strings{"/libs/evil/.git", "/libs/link/.git", "/libs/s/.git"}));
  EXPECT_EQ(result.reasons.at("/libs/evil/.git"),
            "the rules hide this name as a directory; a file cannot take its place");
  EXPECT_EQ(result.reasons.at("/libs/s/.git"),
            "the rules hide this name as a directory; a symlink cannot take its place");
  EXPECT_FALSE(fs::exists(fs::symlink_status(base("libs/evil/.git"))));
  EXPECT_FALSE(fs::exists(fs::symlink_status(base("libs/s/.git"))));
  EXPECT_EQ(read_file(base("libs/link/.git")), "gitdir: ../../.git/modules/link\n");
  EXPECT_EQ(read_file(base("libs/sub/.git")), "gitdir: ../../.git/modules/sub2\n");
  EXPECT_EQ(read_file(base("libs/foo/.git/config")), "[core]\n");
}

TEST_F(CommitTest, DirectoryChmodDoesNotNeedWriteOnItsChildren) {
  mirror_dir("docs");
  fs::permissions(up("docs"), static_cast<fs::perms>(0700));
  EXPECT_EQ(commit_all(policy_of({"**=read", "/docs=write:1"})).applied, Strings{"/docs"});
  EXPECT_EQ(mode_of(base("docs")), 0700u);
  EXPECT_TRUE(fs::exists(base("docs/a.md")));
}

TEST_F(CommitTest, BaseChangedSinceCopyUpIsAConflict) {
  copy_up("src/main.c");
  write_file(up("src/main.c"), "sandbox version\n");
  write_file(base("src/main.c"), "someone else's version, longer\n");
  const CommitResult result = commit_all();
  EXPECT_EQ(result.conflicts, Strings{"/src/main.c"});
  EXPECT_EQ(read_file(base("src/main.c")), "someone else's version, longer\n");
  EXPECT_EQ(read_file(up("src/main.c")), "sandbox version\n");
}

TEST_F(CommitTest, AddedFileThatAppearedInBaseIsAConflict) {
  write_file(up("notes.txt"), "sandbox\n");
  write_file(base("notes.txt"), "base meanwhile\n");
  const CommitResult result = commit_all();
  EXPECT_EQ(result.conflicts, Strings{"/notes.txt"});
  EXPECT_EQ(read_file(base("notes.txt")), "base meanwhile\n");
}

TEST_F(CommitTest, DeletedAndRecreatedFileIsNotAConflict) {
  EXPECT_EQ(journal_->add_whiteout("/README"), 0);
  write_file(up("README"), "rewritten\n");
  const CommitResult result = commit_all();
  EXPECT_EQ(result.applied, Strings{"/README"});
  EXPECT_EQ(read_file(base("README")), "rewritten\n");
  EXPECT_TRUE(journal_->whiteouts().empty());
}

TEST_F(CommitTest, RecreatedAfterPlainDeleteIsNotAConflict) {
  // What the fs does for `rm README; echo rewritten > README`: the create clears the
  // whiteout, leaving no stamp (the file was never copied up).
  EXPECT_EQ(journal_->add_whiteout("/README"), 0);
  EXPECT_EQ(journal_->remove_marker("/README"), 0);
  write_file(up("README"), "rewritten\n");
  reopen_journal();  // the replacement must survive replay
  EXPECT_TRUE(journal_->was_replaced("/README"));
  const CommitResult result = commit_all();
  EXPECT_EQ(result.applied, Strings{"/README"});
  EXPECT_EQ(read_file(base("README")), "rewritten\n");
  EXPECT_FALSE(journal_->was_replaced("/README"));
}

// `rm README; echo x > README` (the fs stamps the deleted version), and the codebase
// deleted README meanwhile: a conflict, as an edit would be (the sandbox wants README
// with new content, the codebase wants it gone; tools that save by replacing a file look
// the same). Deleted on both sides is clean (DeletedOnBothSidesLeavesNothingBehind).
TEST_F(CommitTest, MadeAgainWhereTheBaseDeletedItIsAConflict) {
  EXPECT_EQ(journal_->record_copy_up("/README", stamp_of_path(base("README"))), 0);
  EXPECT_EQ(journal_->add_whiteout("/README"), 0);
  EXPECT_EQ(journal_->remove_marker("/README"), 0);
  write_file(up("README"), "rewritten\n");
  fs::remove(base("README"));
  reopen_journal();
  const CommitResult result = commit_all();
  EXPECT_EQ(result.conflicts, Strings{"/README"});
  EXPECT_FALSE(fs::exists(base("README")));
}

// `rm README` in the sandbox (a stamp and a whiteout), and the codebase deleted it too:
// the commit has nothing to do, and keeps nothing of it. Kept, the stamp made a README
// the sandbox created later a conflict for good, and the journal never became empty.
TEST_F(CommitTest, DeletedOnBothSidesLeavesNothingBehind) {
  EXPECT_EQ(journal_->record_copy_up("/README", stamp_of_path(base("README"))), 0);
  EXPECT_EQ(journal_->add_whiteout("/README"), 0);
  fs::remove(base("README"));
  EXPECT_TRUE(commit_all().conflicts.empty());
  EXPECT_TRUE(journal_->empty());
  write_file(up("README"), "later\n");
  const CommitResult result = commit_all();
  EXPECT_EQ(result.applied, Strings{"/README"});
  EXPECT_EQ(read_file(base("README")), "later\n");
}

TEST_F(CommitTest, EditedWhereTheBaseDeletedItIsAConflict) {
  copy_up("README");
  write_file(up("README"), "edited\n");
  fs::remove(base("README"));
  const CommitResult result = commit_all();
  EXPECT_EQ(result.conflicts, Strings{"/README"});
  EXPECT_FALSE(fs::exists(base("README")));
}

TEST_F(CommitTest, RenamedCopyUpCommitsBothEnds) {
  copy_up("README");
  fs::rename(up("README"), up("README.md"));
  EXPECT_EQ(journal_->rename_prefix("/README", "/README.md"), 0);
  EXPECT_EQ(journal_->add_whiteout("/README"), 0);
  const CommitResult result = commit_all();
  EXPECT_EQ(result.applied, (Strings{"/README", "/README.md"}));
  EXPECT_FALSE(fs::exists(base("README")));
  EXPECT_EQ(read_file(base("README.md")), "hello\n");
}

TEST_F(CommitTest, OnlySelectedPathsAreApplied) {
  write_file(up("a/one.txt"), "1\n");
  write_file(up("b.txt"), "2\n");
  const CommitResult result = commit_all(write_all(), {"/a/one.txt"});
  EXPECT_EQ(result.applied, Strings{"/a/one.txt"});
  EXPECT_EQ(read_file(base("a/one.txt")), "1\n");  // parent created on the way
  EXPECT_FALSE(fs::exists(base("b.txt")));
  const auto left = list_changes(base_fd_.get(), *journal_, Scope(write_all()));
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].path, "/b.txt");
}

TEST_F(CommitTest, RecreatedDirectoryReplacesBaseContents) {
  mirror_dir("docs");
  EXPECT_EQ(journal_->add_opaque("/docs"), 0);
  write_file(up("docs/fresh.md"), "fresh\n");
  const CommitResult result = commit_all();
  EXPECT_EQ(result.applied, (Strings{"/docs/a.md", "/docs/deep", "/docs/fresh.md"}));
  EXPECT_FALSE(fs::exists(base("docs/a.md")));
  EXPECT_FALSE(fs::exists(base("docs/deep")));
  EXPECT_EQ(read_file(base("docs/fresh.md")), "fresh\n");
  EXPECT_TRUE(journal_->opaques().empty());
  EXPECT_EQ(remaining(), 0u);
}

TEST_F(CommitTest, PartialCommitUnderRecreatedDirectoryKeepsTheRestHidden) {
  mirror_dir("docs");
  EXPECT_EQ(journal_->add_opaque("/docs"), 0);
  write_file(up("docs/fresh.md"), "fresh\n");
  const CommitResult result = commit_all(write_all(), {"/docs/fresh.md"});
  EXPECT_EQ(result.applied, Strings{"/docs/fresh.md"});
  EXPECT_TRUE(fs::exists(base("docs/a.md")));
  const auto left = list_changes(base_fd_.get(), *journal_, Scope(write_all()));
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].path, "/docs/a.md");
  EXPECT_EQ(left[0].kind, ChangeKind::kDeleted);
  EXPECT_EQ(left[1].path, "/docs/deep");
  EXPECT_EQ(commit_all().applied, (Strings{"/docs/a.md", "/docs/deep"}));
  EXPECT_EQ(remaining(), 0u);
  EXPECT_TRUE(journal_->whiteouts().empty());
}

TEST_F(CommitTest, DirectoryReplacedByFileAtomically) {
  EXPECT_EQ(journal_->add_whiteout("/docs"), 0);
  write_file(up("docs"), "now a file\n");
  const CommitResult result = commit_all();
  // What the directory held goes with it, as the review listed (changes_test.cc).
  EXPECT_EQ(result.applied, (Strings{"/docs", "/docs/a.md", "/docs/deep"}));
  EXPECT_EQ(read_file(base("docs")), "now a file\n");
  for (const auto& entry : fs::directory_iterator(base_)) {
    EXPECT_EQ(entry.path().filename().string().find(".agentfense-commit-"), std::string::npos);
  }
}

// Listed for review (the agent made one), refused at commit without being opened (an
// open would block): commit_sanitize_test.cc has the refusal.
TEST_F(CommitTest, FifosAreListedAndNeverOpened) {
  ASSERT_EQ(::mkfifo(up("pipe").c_str(), 0640), 0);
  const auto changes = list_changes(base_fd_.get(), *journal_, Scope(write_all()));
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].type, 'p');
  EXPECT_EQ(commit_all().denied, Strings{"/pipe"});
  EXPECT_FALSE(fs::exists(fs::symlink_status(base("pipe"))));
}

TEST_F(CommitTest, FileReplacedByEmptyDirectory) {
  EXPECT_EQ(journal_->add_whiteout("/README"), 0);
  fs::create_directories(up("README"));
  EXPECT_EQ(commit_all().applied, Strings{"/README"});
  EXPECT_TRUE(fs::is_directory(base("README")));
  EXPECT_EQ(remaining(), 0u);
  EXPECT_TRUE(journal_->whiteouts().empty());
}

TEST_F(CommitTest, InstallReplacesByRenameSoOpenReadersKeepOldContent) {
  write_file(up("README"), "new content\n");
  UniqueFd reader(::open(base("README").c_str(), O_RDONLY));
  ASSERT_TRUE(reader.valid());
  UniqueFd upper_dir(::open(upper().c_str(), O_PATH | O_DIRECTORY));
  install_entry(upper_dir.get(), base_fd_.get(), "README");
  char buffer[32] = {};
  ASSERT_EQ(::pread(reader.get(), buffer, sizeof buffer, 0), 6);
  EXPECT_EQ(std::string(buffer, 6), "hello\n");  // old inode intact, never truncated
  EXPECT_EQ(read_file(base("README")), "new content\n");
  size_t entries = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(base_)) ++entries;
  EXPECT_EQ(entries, 3u);  // README, src, docs: no temp left behind
}

TEST_F(CommitTest, CommitsAreSerializedByTheCommitLockFile) {
  write_file(up("x.txt"), "x\n");
  std::optional<CommitLock> held(CommitLock::acquire(base_fd_.get()));
  auto pending = std::async(std::launch::async, [this] { return commit_all(); });
  EXPECT_EQ(pending.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  EXPECT_FALSE(fs::exists(base("x.txt")));
  held.reset();
  EXPECT_EQ(pending.get().applied, Strings{"/x.txt"});
}

TEST_F(CommitTest, AFlockOnTheBaseDirectoryDoesNotBlockACommit) {
  // Anyone who can read the base can flock it; that must not wedge our commits.
  write_file(up("x.txt"), "x\n");
  UniqueFd lock_fd(::open(base_.c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_EQ(::flock(lock_fd.get(), LOCK_EX), 0);
  auto pending = std::async(std::launch::async, [this] { return commit_all(); });
  const std::future_status status = pending.wait_for(std::chrono::seconds(10));
  lock_fd.reset();  // before any assertion: `pending` would wait for it when destroyed
  ASSERT_EQ(status, std::future_status::ready);
  EXPECT_EQ(pending.get().applied, Strings{"/x.txt"});
  struct stat st {};
  ASSERT_EQ(::stat(commit_lock_dir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_EQ(st.st_uid, ::geteuid());
}

TEST_F(CommitTest, DiscardEmptiesUpperWithoutFollowingSymlinks) {
  const fs::path outside = root_ / "outside";
  write_file(outside / "keep.txt", "keep\n");
  fs::create_symlink(outside, up("escape"));
  write_file(up("dir/file"), "f\n");
  EXPECT_EQ(journal_->add_whiteout("/README"), 0);
  discard(*journal_);
  EXPECT_TRUE(fs::is_empty(upper()));
  EXPECT_EQ(read_file(outside / "keep.txt"), "keep\n");
  EXPECT_TRUE(journal_->whiteouts().empty());
  EXPECT_EQ(remaining(), 0u);
  EXPECT_EQ(read_file(base("README")), "hello\n");
}

}  // namespace
}  // namespace agentfense::layer::testing
