// layer/tree_bytes.h: the two measures of a tree the limits use.
#include "layer/tree_bytes.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/unique_fd.h"

namespace agentfense::layer {
namespace {

namespace fs = std::filesystem;

class TreeBytesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/af-tree-bytes-XXXXXX";
    ASSERT_NE(::mkdtemp(templ), nullptr);
    root_ = templ;
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }
  UniqueFd open_root() const {
    return UniqueFd(::open(root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  }
  void write(const fs::path& path, std::size_t bytes) const {
    std::ofstream(root_ / path) << std::string(bytes, 'x');
  }
  fs::path root_;
};

TEST_F(TreeBytesTest, FilesCountOncePerNameEveryEntryAtLeastABlockForTheStore) {
  fs::create_directories(root_ / "a/b");
  write("a/b/file", 1000);
  write("top", 10);
  fs::create_hard_link(root_ / "a/b/file", root_ / "a/link");  // a copy writes it twice
  fs::create_symlink(std::string(3000, 't'), root_ / "a/sym");
  ASSERT_EQ(::mkfifo((root_ / "fifo").c_str(), 0600), 0);
  const UniqueFd root = open_root();
  EXPECT_EQ(file_bytes_below(root.get()), 2010);
  // a, a/b and a/sym are a block each, and so are the three small files' names; the
  // fifo nothing; the root itself is not below.
  EXPECT_EQ(charged_bytes_below(root.get()), 6 * kEntryBlockBytes);
  write("big", 3 * kEntryBlockBytes + 1);  // larger than a block: its size
  EXPECT_EQ(charged_bytes_below(root.get()), 9 * kEntryBlockBytes + 1);
}

// Sweep L's B1: an agent's commits of empty files put 80,000 inodes into a codebase
// charged 24 bytes of its 1 MiB limit. Each name costs the disk an inode at least.
TEST_F(TreeBytesTest, EmptyFilesAreChargedABlockEach) {
  for (int i = 0; i < 100; ++i) write("e" + std::to_string(i), 0);
  const UniqueFd root = open_root();
  EXPECT_EQ(file_bytes_below(root.get()), 0);
  EXPECT_EQ(charged_bytes_below(root.get()), 100 * kEntryBlockBytes);
}

TEST_F(TreeBytesTest, SymlinksAreNeverFollowed) {
  fs::create_directories(root_ / "elsewhere");
  write("elsewhere/big", 50'000);
  fs::create_directories(root_ / "tree");
  fs::create_directory_symlink(root_ / "elsewhere", root_ / "tree/link");
  const UniqueFd tree(::open((root_ / "tree").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  EXPECT_EQ(file_bytes_below(tree.get()), 0);
  EXPECT_EQ(charged_bytes_below(tree.get()), kEntryBlockBytes);
}

}  // namespace
}  // namespace agentfense::layer
