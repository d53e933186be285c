// layer::DirCursor (safe_walk.h): opens directories beneath a root from the one it
// opened last when that is an ancestor, with open_dir_beneath's answers otherwise.
#include <fcntl.h>
#include <sys/stat.h>

#include <string>

#include "common/errors.h"
#include "common/unique_fd.h"
#include "layer/layer_test_util.h"
#include "layer/safe_walk.h"

namespace agentfense::layer {
namespace {

namespace fs = std::filesystem;

// The tree is the layer fixture's base directory.
class DirCursorTest : public testing::LayerTest {
 protected:
  void SetUp() override {
    LayerTest::SetUp();
    root_ = base_;
    fs::create_directories(root_ / "a/b/c");
    fs::create_directories(root_ / "x");
    fs::create_directory_symlink(root_ / "x", root_ / "a/link");
    root_fd_ = UniqueFd(::open(root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(root_fd_);
  }

  // The inode of an fd, to tell which directory it is.
  static ino_t inode_of(int fd) {
    struct stat st {};
    EXPECT_EQ(::fstat(fd, &st), 0);
    return st.st_ino;
  }
  ino_t inode_at(const std::string& rel) const {
    struct stat st {};
    EXPECT_EQ(::lstat((root_ / rel).c_str(), &st), 0) << rel;
    return st.st_ino;
  }

  fs::path root_;
  UniqueFd root_fd_;
};

TEST_F(DirCursorTest, OpensDeeperSiblingAndRootPathsLikeOpenDirBeneath) {
  DirCursor cursor(root_fd_.get());
  for (const char* path : {"/a", "/a/b", "/a/b/c", "/a/b", "/x", "/", "/a/b/c"}) {
    const UniqueFd fd = cursor.open(path);
    const std::string rel = std::string(path).substr(1);
    EXPECT_EQ(inode_of(fd.get()), inode_of(open_dir_beneath(root_fd_.get(), path).get())) << path;
    if (!rel.empty()) {
      EXPECT_EQ(inode_of(fd.get()), inode_at(rel)) << path;
    }
  }
}

TEST_F(DirCursorTest, NeverFollowsASymlinkAndReportsWhatIsMissing) {
  DirCursor cursor(root_fd_.get());
  (void)cursor.open("/a");  // the symlink is then below the directory kept
  try {
    (void)cursor.open("/a/link");
    ADD_FAILURE() << "followed a symlink";
  } catch (const SystemError& e) {
    EXPECT_TRUE(e.code() == ENOTDIR || e.code() == ELOOP) << e.what();
  }
  EXPECT_FALSE(cursor.try_open("/a/link"));
  EXPECT_FALSE(cursor.try_open("/a/missing"));
  EXPECT_FALSE(cursor.try_open("/nothing/here"));
  EXPECT_TRUE(cursor.try_open("/a/b/c"));  // and it still works after failures
}

TEST_F(DirCursorTest, EachFdIsTheCallersOwn) {
  DirCursor cursor(root_fd_.get());
  UniqueFd first = cursor.open("/a/b");
  const ino_t b = inode_of(first.get());
  UniqueFd second = cursor.open("/a/b/c");
  first.reset();  // closing one the caller got leaves the cursor working
  EXPECT_EQ(inode_of(cursor.open("/a/b/c").get()), inode_of(second.get()));
  EXPECT_EQ(inode_of(cursor.open("/a/b").get()), b);
}

// A commit's cleanup walks back up from the deepest directory: each parent must be found
// again, past the 64 directories the cursor keeps as well.
TEST_F(DirCursorTest, WalksBackUpAChainDeeperThanWhatItKeeps) {
  std::string deepest = "/a";
  for (int level = 0; level < 150; ++level) deepest += "/d";
  fs::create_directories(root_ / deepest.substr(1));
  DirCursor cursor(root_fd_.get());
  (void)cursor.open(deepest);
  for (std::string dir = deepest; dir != "/"; dir = split_path(dir).parent) {
    const UniqueFd fd = cursor.open(dir);
    ASSERT_EQ(inode_of(fd.get()), inode_at(dir.substr(1))) << dir.size();
  }
  EXPECT_EQ(inode_of(cursor.open("/").get()), inode_of(root_fd_.get()));
  EXPECT_EQ(inode_of(cursor.open(deepest).get()), inode_at(deepest.substr(1)));
}

// A commit may delete or replace a base directory the cursor kept, then need one at the
// same path again: the cursor must not hand out the removed one (what is written into
// it would be lost).
TEST_F(DirCursorTest, ADirectoryRemovedSinceIsNotReused) {
  DirCursor cursor(root_fd_.get());
  (void)cursor.open("/a/b/c");
  fs::remove_all(root_ / "a/b");
  EXPECT_FALSE(cursor.try_open("/a/b/c"));
  fs::create_directories(root_ / "a/b/c");
  const UniqueFd again = cursor.open("/a/b/c");
  EXPECT_EQ(inode_of(again.get()), inode_at("a/b/c"));
  struct stat st {};
  ASSERT_EQ(::fstat(again.get(), &st), 0);
  EXPECT_GT(st.st_nlink, 0u);
}

}  // namespace
}  // namespace agentfense::layer
