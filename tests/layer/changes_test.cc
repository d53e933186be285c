#include "layer/changes.h"

#include <unistd.h>

#include "layer_test_util.h"

namespace agentfense::layer::testing {
namespace {

std::string describe(const std::vector<Change>& changes) {
  std::string out;
  for (const Change& c : changes) {
    out += c.kind == ChangeKind::kAdded ? "A " : c.kind == ChangeKind::kModified ? "M " : "D ";
    out += c.type;
    out += " " + c.path + "\n";
  }
  return out;
}

class ChangesTest : public LayerTest {
 protected:
  void SetUp() override {
    LayerTest::SetUp();
    write_file(base("README"), "hello\n");
    write_file(base("src/main.c"), "int main() {}\n");
    write_file(base("src/util.c"), "void util() {}\n");
    write_file(base("docs/a.md"), "a\n");
    write_file(base("docs/deep/b.md"), "b\n");
  }
  std::string changes(const policy::Policy& policy = write_all()) {
    return describe(list_changes(base_fd_.get(), *journal_, Scope(policy)));
  }
};

TEST_F(ChangesTest, NoChangesOnFreshLayer) {
  EXPECT_EQ(changes(), "");
}

TEST_F(ChangesTest, IdenticalCopyUpIsNotAChange) {
  copy_up("src/main.c");
  EXPECT_EQ(changes(), "");
}

TEST_F(ChangesTest, ReportsAddModifyDelete) {
  copy_up("src/main.c");
  write_file(up("src/main.c"), "int main() { return 1; }\n");
  write_file(up("src/new.c"), "new\n");
  EXPECT_EQ(journal_->add_whiteout("/README"), 0);
  EXPECT_EQ(changes(), "D f /README\nM f /src/main.c\nA f /src/new.c\n");
}

TEST_F(ChangesTest, ModeChangeIsAModification) {
  copy_up("src/util.c");
  fs::permissions(up("src/util.c"), static_cast<fs::perms>(0755));
  EXPECT_EQ(changes(), "M f /src/util.c\n");
}

TEST_F(ChangesTest, SymlinksCompareByTarget) {
  fs::create_symlink("README", base("link"));
  fs::create_symlink("README", up("link"));
  EXPECT_EQ(changes(), "");
  fs::remove(up("link"));
  fs::create_symlink("src/main.c", up("link"));
  EXPECT_EQ(changes(), "M l /link\n");
}

TEST_F(ChangesTest, DeletedDirectoryIsReportedOnce) {
  EXPECT_EQ(journal_->add_whiteout("/docs/deep/b.md"), 0);
  EXPECT_EQ(journal_->add_whiteout("/docs/deep"), 0);
  EXPECT_EQ(journal_->add_whiteout("/docs/a.md"), 0);
  EXPECT_EQ(journal_->add_whiteout("/docs"), 0);
  EXPECT_EQ(changes(), "D d /docs\n");
}

TEST_F(ChangesTest, WhiteoutOfAbsentBaseEntryIsNoChange) {
  EXPECT_EQ(journal_->add_whiteout("/never-existed"), 0);
  EXPECT_EQ(changes(), "");
}

TEST_F(ChangesTest, NewDirectoryAndItsContentsAreAdded) {
  write_file(up("newdir/sub/f.txt"), "x\n");
  EXPECT_EQ(changes(), "A d /newdir\nA d /newdir/sub\nA f /newdir/sub/f.txt\n");
}

TEST_F(ChangesTest, RecreatedOpaqueDirectoryHidesBaseChildren) {
  // rm -r docs; mkdir docs; echo x > docs/a.md
  mirror_dir("docs");
  EXPECT_EQ(journal_->add_opaque("/docs"), 0);
  write_file(up("docs/a.md"), "x\n");
  EXPECT_EQ(changes(), "M f /docs/a.md\nD d /docs/deep\n");
}

// The journal after `rm -r docs; mkdir docs` as the fs leaves it: a whiteout for each
// removed name, then the one at /docs traded for an opaque marker.
class RecreatedDocsTest : public ChangesTest {
 protected:
  void SetUp() override {
    ChangesTest::SetUp();
    for (const char* path : {"/docs/deep/b.md", "/docs/deep", "/docs/a.md", "/docs"})
      EXPECT_EQ(journal_->add_whiteout(path), 0);
    EXPECT_EQ(journal_->remove_marker("/docs"), 0);
    EXPECT_EQ(journal_->add_opaque("/docs"), 0);
    mirror_dir("docs");
  }
};

TEST_F(RecreatedDocsTest, BaseDirectoryReplacedByAFileListsWhatItHeld) {
  // ...; echo x > docs/deep: committing /docs/deep removes the base directory and b.md.
  write_file(up("docs/deep"), "x\n");
  EXPECT_EQ(changes(), "D f /docs/a.md\nM f /docs/deep\nD f /docs/deep/b.md\n");
}

TEST_F(RecreatedDocsTest, BaseDirectoryReplacedByASymlinkListsWhatItHeld) {
  fs::create_symlink("a.md", up("docs/deep"));
  EXPECT_EQ(changes(), "D f /docs/a.md\nM l /docs/deep\nD f /docs/deep/b.md\n");
}

TEST_F(RecreatedDocsTest, SelectingTheReplacementSelectsWhatItDeletes) {
  write_file(up("docs/deep"), "x\n");
  const std::vector<Change> listed =
      list_changes(base_fd_.get(), *journal_, Scope(write_all()), {{"/docs/deep"}});
  EXPECT_EQ(describe(listed), "M f /docs/deep\nD f /docs/deep/b.md\n");
  const CommitResult result =
      commit(base_fd_.get(), *journal_, Scope(write_all()), {{"/docs/deep"}});
  EXPECT_EQ(result.applied, (std::vector<std::string>{"/docs/deep", "/docs/deep/b.md"}));
  EXPECT_EQ(read_file(base("docs/deep")), "x\n");
  EXPECT_EQ(changes(), "D f /docs/a.md\n");
}

TEST_F(RecreatedDocsTest, ReCreatedNamesAreComparedWithTheBase) {
  write_file(up("docs/a.md"), "a\n");  // as in the base: no change
  mirror_dir("docs/deep");             // mkdir docs/deep: its base file is still gone
  EXPECT_EQ(changes(), "D f /docs/deep/b.md\n");
  write_file(up("docs/a.md"), "edited\n");
  EXPECT_EQ(changes(), "M f /docs/a.md\nD f /docs/deep/b.md\n");
}

TEST_F(ChangesTest, BaseDirectoryReplacedByAFileIsListedOnce) {
  // rm -r docs/deep; echo x > docs/deep: creating the file drops the whiteout at its name
  // and keeps the one below it, which must not list b.md a second time.
  EXPECT_EQ(journal_->add_whiteout("/docs/deep/b.md"), 0);
  write_file(up("docs/deep"), "x\n");
  EXPECT_EQ(changes(), "M f /docs/deep\nD f /docs/deep/b.md\n");
}

TEST_F(ChangesTest, BaseDirectoryReplacedByARenamedFileListsWhatItHeld) {
  // rm -r docs/deep; echo x > t; mv -T t docs/deep: the rename drops the records at and
  // under docs/deep, so no whiteout says b.md is gone; the commit still removes it.
  write_file(up("docs/deep"), "x\n");
  EXPECT_EQ(changes(), "M f /docs/deep\nD f /docs/deep/b.md\n");
}

TEST_F(ChangesTest, FileReplacedByDirectoryIsModified) {
  EXPECT_EQ(journal_->add_whiteout("/README"), 0);
  fs::create_directories(up("README"));
  EXPECT_EQ(changes(), "M d /README\n");
}

TEST_F(ChangesTest, WeirdNamesAreListedByteExact) {
  const std::string name = std::string("we\nird\xff name");
  write_file(up(name), "x");
  EXPECT_EQ(journal_->add_whiteout("/src/util.c"), 0);
  const auto list = list_changes(base_fd_.get(), *journal_, Scope(write_all()));
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].path, "/src/util.c");
  EXPECT_EQ(list[1].path, "/" + name);
}

TEST_F(ChangesTest, BaseSymlinkedDirectoryIsNotTraversed) {
  // A whiteout below a base symlink names nothing in the base: never followed.
  fs::create_directories(root_ / "outside");
  write_file(root_ / "outside/secret", "s");
  fs::create_symlink(root_ / "outside", base("escape"));
  EXPECT_EQ(journal_->add_whiteout("/escape/secret"), 0);
  EXPECT_EQ(changes(), "");
}

}  // namespace
}  // namespace agentfense::layer::testing
