// Commits of rename chains and cycles: a renamed file is checked against its origin as
// the base held it before this commit replaced or removed it, whatever the order the
// commit applies the names in (a deletion, a directory or a full batch of staged files
// between them flushes what came before).
#include <sys/stat.h>

#include <fstream>
#include <optional>

#include "layer/changes.h"
#include "layer_test_util.h"

namespace agentfense::layer::testing {
namespace {

using Strings = std::vector<std::string>;

class CommitRenamesTest : public LayerTest {
 protected:
  CommitResult commit_all() { return commit(base_fd_.get(), *journal_, Scope(write_all())); }
  size_t remaining() { return list_changes(base_fd_.get(), *journal_, Scope(write_all())).size(); }

  // What the fs's rename leaves behind (fs/ops_link.cc do_rename), for files and symlinks:
  // the source copied up, its stamp moved along, the base version replaced at `to` kept
  // beside it (or as `to`'s stamp), and the base name moved away whited out with its
  // stamp.
  void sandbox_mv(const std::string& from, const std::string& to) {
    struct stat st {};
    const bool from_in_base = ::lstat(base(from).c_str(), &st) == 0;
    if (from_in_base && !fs::exists(fs::symlink_status(up(from)))) {
      fs::create_directories(up(from).parent_path());
      fs::copy(base(from), up(from), fs::copy_options::copy_symlinks);
      EXPECT_EQ(journal_->record_copy_up("/" + from, stamp_of_path(base(from))), 0);
    }
    SeenBase replaced;
    if (std::optional<SeenBase> seen = journal_->seen_at("/" + to)) {
      replaced = *seen;
    } else if (::lstat(base(to).c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) {
      replaced.version = stamp_of_path(base(to));
    }
    std::optional<BaseStamp> deleted;
    if (from_in_base) {
      const std::optional<SeenBase> seen = journal_->seen_at("/" + from);
      deleted = seen && seen->version ? *seen->version : stamp_of_path(base(from));
    }
    fs::create_directories(up(to).parent_path());
    fs::rename(up(from), up(to));
    EXPECT_EQ(journal_->rename_prefix("/" + from, "/" + to), 0);
    if (journal_->copy_up_record("/" + to)) {
      EXPECT_EQ(journal_->record_replaced("/" + to, replaced), 0);
    } else if (replaced.version) {
      EXPECT_EQ(journal_->record_copy_up("/" + to, *replaced.version), 0);
    }
    if (deleted) {
      EXPECT_EQ(journal_->record_copy_up("/" + from, *deleted), 0);
      EXPECT_EQ(journal_->add_whiteout("/" + from), 0);
    }
  }

  // `rm d2/*` as the fs records it: each base entry's stamp and a whiteout.
  void sandbox_rm(const std::string& path) {
    EXPECT_EQ(journal_->record_copy_up("/" + path, stamp_of_path(base(path))), 0);
    EXPECT_EQ(journal_->add_whiteout("/" + path), 0);
  }
  // `mv -T d d2` of a sandbox directory over a base directory it emptied.
  void sandbox_mv_dir_over_base(const std::string& from, const std::string& to) {
    fs::create_directories(up(to).parent_path());
    fs::rename(up(from), up(to));
    EXPECT_EQ(journal_->rename_prefix_keeping_seen("/" + from, "/" + to), 0);
    EXPECT_EQ(journal_->add_opaque("/" + to), 0);
  }

  void expect_all_applied(const CommitResult& result) {
    EXPECT_TRUE(result.conflicts.empty())
        << result.conflicts.front() << ": " << result.reasons.at(result.conflicts.front());
    EXPECT_TRUE(result.denied.empty()) << result.denied.front();
    EXPECT_EQ(remaining(), 0u);
  }
};

// `mv d/one d/x; mv d/two d/one`: the deletion of two flushes the new one before x is
// checked; x still derives from the one the sandbox read.
TEST_F(CommitRenamesTest, ReplacedOriginInADirectory) {
  write_file(base("d/one"), "ONE\n");
  write_file(base("d/two"), "TWO\n");
  sandbox_mv("d/one", "d/x");
  sandbox_mv("d/two", "d/one");
  expect_all_applied(commit_all());
  EXPECT_EQ(read_file(base("d/one")), "TWO\n");
  EXPECT_EQ(read_file(base("d/x")), "ONE\n");
  EXPECT_FALSE(fs::exists(base("d/two")));
}

TEST_F(CommitRenamesTest, ReplacedOriginAtTheTop) {
  write_file(base("one"), "A1\n");
  write_file(base("two"), "C1\n");
  sandbox_mv("one", "x");
  sandbox_mv("two", "one");
  expect_all_applied(commit_all());
  EXPECT_EQ(read_file(base("one")), "C1\n");
  EXPECT_EQ(read_file(base("x")), "A1\n");
  EXPECT_FALSE(fs::exists(base("two")));
}

// `mv -T f t; mv -T s f; mv -T t s`: the symlink installed at f comes first.
TEST_F(CommitRenamesTest, FileAndSymlinkSwapPlaces) {
  write_file(base("f"), "top\n");
  fs::create_symlink("f", base("s"));
  sandbox_mv("f", "t");
  sandbox_mv("s", "f");
  sandbox_mv("t", "s");
  expect_all_applied(commit_all());
  EXPECT_TRUE(fs::is_symlink(base("f")));
  EXPECT_EQ(fs::read_symlink(base("f")), "f");
  EXPECT_FALSE(fs::is_symlink(base("s")));
  EXPECT_EQ(read_file(base("s")), "top\n");
}

// a -> b -> c -> a, with new directories between the names: each directory publishes
// the file staged before it, whose old version the next name came from.
TEST_F(CommitRenamesTest, CycleWithDirectoriesBetween) {
  for (const char* name : {"a", "b", "c"}) write_file(base(name), std::string(name) + "\n");
  sandbox_mv("a", "t");
  sandbox_mv("c", "a");
  sandbox_mv("b", "c");
  sandbox_mv("t", "b");
  fs::create_directories(up("a.d"));
  fs::create_directories(up("b.d"));
  expect_all_applied(commit_all());
  EXPECT_EQ(read_file(base("a")), "c\n");
  EXPECT_EQ(read_file(base("b")), "a\n");
  EXPECT_EQ(read_file(base("c")), "b\n");
}

// `mv k5 k6; mv k4 k5; ... mv k1 k2`: a chain whose every origin was replaced earlier
// in the same commit.
TEST_F(CommitRenamesTest, LongChainEachOriginReplacedFirst) {
  constexpr int kLinks = 6;
  for (int i = 1; i <= kLinks; ++i) write_file(base("k" + std::to_string(i)), std::to_string(i));
  for (int i = kLinks; i >= 1; --i)
    sandbox_mv("k" + std::to_string(i), "k" + std::to_string(i + 1));
  for (int i = 1; i <= kLinks; ++i) fs::create_directories(up("k" + std::to_string(i) + ".d"));
  expect_all_applied(commit_all());
  EXPECT_FALSE(fs::exists(base("k1")));
  for (int i = 2; i <= kLinks + 1; ++i)
    EXPECT_EQ(read_file(base("k" + std::to_string(i))), std::to_string(i - 1)) << i;
}

// A swap with more new files between the two names than one batch stages: the batch
// publishes the first name before the second is checked.
TEST_F(CommitRenamesTest, SwapAcrossAFullBatch) {
  write_file(base("a"), "A\n");
  write_file(base("z"), "Z\n");
  sandbox_mv("a", "t");
  sandbox_mv("z", "a");
  sandbox_mv("t", "z");
  for (int i = 0; i < 300; ++i) write_file(up("m/f" + std::to_string(i)), "m\n");
  expect_all_applied(commit_all());
  EXPECT_EQ(read_file(base("a")), "Z\n");
  EXPECT_EQ(read_file(base("z")), "A\n");
}

// The origin check still catches another sandbox's write, also when this commit then
// replaces the origin: the renamed file is refused, the base write kept.
TEST_F(CommitRenamesTest, OriginChangedBeforeTheCommitIsStillAConflict) {
  write_file(base("d/one"), "ONE\n");
  write_file(base("d/two"), "TWO\n");
  sandbox_mv("d/one", "d/x");
  write_file(base("d/one"), "someone else's, longer\n");
  const CommitResult result = commit_all();
  EXPECT_EQ(result.conflicts, (Strings{"/d/one", "/d/x"}));
  EXPECT_EQ(read_file(base("d/one")), "someone else's, longer\n");
  EXPECT_FALSE(fs::exists(base("d/x")));
}

// A deletion whose content the commit refused where it went is refused too: applying it
// alone kept the content nowhere in the codebase. Here the symlink's target leaves the
// codebase once moved to the top.
TEST_F(CommitRenamesTest, DeletionIsRefusedWithWhereItsContentWent) {
  write_file(base("top"), "t\n");
  fs::create_directories(base("sub"));
  fs::create_symlink("../top", base("sub/link"));
  sandbox_mv("sub/link", "link");
  const CommitResult result = commit_all();
  EXPECT_EQ(result.denied, (Strings{"/link", "/sub/link"}));
  EXPECT_EQ(result.reasons.at("/sub/link"), "its content moved to /link, which was not applied");
  EXPECT_TRUE(fs::is_symlink(base("sub/link")));
  EXPECT_EQ(remaining(), 2u);
}

// The same for a directory deleted after a file in it was moved out.
TEST_F(CommitRenamesTest, DirectoryDeletionIsRefusedWithWhereItsContentWent) {
  write_file(base("top"), "t\n");
  write_file(base("sub/other"), "o\n");
  fs::create_symlink("../top", base("sub/link"));
  sandbox_mv("sub/link", "link");
  fs::remove(up("sub"));  // `rm -r sub`
  EXPECT_EQ(journal_->record_copy_up("/sub/other", stamp_of_path(base("sub/other"))), 0);
  EXPECT_EQ(journal_->add_whiteout("/sub"), 0);
  const CommitResult result = commit_all();
  EXPECT_EQ(result.denied, (Strings{"/link", "/sub"}));
  EXPECT_EQ(read_file(base("sub/other")), "o\n");
  EXPECT_TRUE(fs::is_symlink(base("sub/link")));
}

// `mv a b` over a base b: the commit overwrites b, which must be the version the rename
// replaced. Another sandbox's commit there since is a conflict, and a, whose content
// went to b, stays too; both commit once the sandbox has seen the new b (not here).
TEST_F(CommitRenamesTest, DestinationChangedSinceTheRenameIsAConflict) {
  write_file(base("a"), "A\n");
  write_file(base("b"), "B\n");
  sandbox_mv("a", "b");
  write_file(base("b"), "theirs, longer\n");
  const CommitResult result = commit_all();
  EXPECT_EQ(result.conflicts, (Strings{"/a", "/b"}));
  EXPECT_EQ(result.reasons.at("/b"), "base changed since the sandbox read it");
  EXPECT_EQ(result.reasons.at("/a"), "its content moved to /b, which was not applied");
  EXPECT_EQ(read_file(base("b")), "theirs, longer\n");
  EXPECT_EQ(read_file(base("a")), "A\n");
  EXPECT_EQ(remaining(), 2u);
}

// The same when the base had nothing at the destination and gained it since.
TEST_F(CommitRenamesTest, DestinationTheBaseGainedSinceIsAConflict) {
  write_file(base("a"), "A\n");
  sandbox_mv("a", "b");
  write_file(base("b"), "theirs\n");
  const CommitResult result = commit_all();
  EXPECT_EQ(result.conflicts, (Strings{"/a", "/b"}));
  EXPECT_EQ(result.reasons.at("/b"), "renamed in the sandbox but now also exists in base");
  EXPECT_EQ(read_file(base("b")), "theirs\n");
}

// A directory renamed over a base directory the sandbox emptied: what lands on a deleted
// name overwrites it, the rest is deleted; both must still be the versions the sandbox
// deleted. The host's edits since are conflicts, and a's deletion waits with x.
TEST_F(CommitRenamesTest, DirectoryOverAnEmptiedBaseDirectoryKeepsWhatWasDeleted) {
  write_file(base("a"), "A\n");
  write_file(base("d2/x"), "X\n");
  write_file(base("d2/y"), "Y\n");
  write_file(base("d2/z"), "Z\n");
  for (const char* name : {"d2/x", "d2/y", "d2/z"}) sandbox_rm(name);
  sandbox_mv("a", "d/x");
  write_file(up("d/z"), "new z\n");
  sandbox_mv_dir_over_base("d", "d2");
  write_file(base("d2/x"), "theirs x, longer\n");
  write_file(base("d2/y"), "theirs y, longer\n");
  write_file(base("d2/z"), "theirs z, longer\n");
  const CommitResult result = commit_all();
  EXPECT_EQ(result.conflicts, (Strings{"/a", "/d2/x", "/d2/y", "/d2/z"}));
  EXPECT_EQ(result.reasons.at("/d2/y"), "base changed since the sandbox read it");
  EXPECT_EQ(read_file(base("d2/x")), "theirs x, longer\n");
  EXPECT_EQ(read_file(base("d2/y")), "theirs y, longer\n");
  EXPECT_EQ(read_file(base("d2/z")), "theirs z, longer\n");
  EXPECT_EQ(read_file(base("a")), "A\n");
}

TEST_F(CommitRenamesTest, DirectoryOverAnEmptiedBaseDirectoryCommitsWhenUnchanged) {
  write_file(base("a"), "A\n");
  write_file(base("d2/x"), "X\n");
  write_file(base("d2/y"), "Y\n");
  for (const char* name : {"d2/x", "d2/y"}) sandbox_rm(name);
  sandbox_mv("a", "d/x");
  sandbox_mv_dir_over_base("d", "d2");
  expect_all_applied(commit_all());
  EXPECT_EQ(read_file(base("d2/x")), "A\n");
  EXPECT_FALSE(fs::exists(base("d2/y")));
  EXPECT_FALSE(fs::exists(base("a")));
}

// A rename recorded by a server before the layer kept what it replaced commits as it did:
// its origin checked, its destination not (the upgrade refuses nothing it applied).
TEST_F(CommitRenamesTest, RenameFromAnOlderJournalChecksItsOriginOnly) {
  write_file(base("a"), "A\n");
  write_file(base("b"), "B\n");
  fs::copy(base("a"), up("a"));
  journal_.reset();
  std::ofstream(state_ / "journal", std::ios::binary)
      << "S /a  " << stamp_of_path(base("a")).ino << ' ' << stamp_of_path(base("a")).size << ' '
      << stamp_of_path(base("a")).mtime_ns << "\nR /a /b\nW /a\n";
  fs::rename(up("a"), up("b"));
  reopen_journal();
  write_file(base("b"), "theirs, longer\n");
  expect_all_applied(commit_all());
  EXPECT_EQ(read_file(base("b")), "A\n");
  EXPECT_FALSE(fs::exists(base("a")));
}

}  // namespace
}  // namespace agentfense::layer::testing
