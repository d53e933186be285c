// StoredNames (layer/stored_names.h): in a directory that may fold names, only the names
// it stores byte for byte are served; elsewhere every name is its own.
#include "layer/stored_names.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/vfs.h>

#include <filesystem>
#include <fstream>

#include "common/unique_fd.h"
#include "test_support/temp_dir.h"

namespace agentfense::layer {
namespace {

namespace fs = std::filesystem;

class StoredNamesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(root_ / "README.md") << "readme";
    std::ofstream(root_ / ".env") << "secret";
    dir_fd_ = UniqueFd(::open(root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(dir_fd_);
  }
  const testing::TempDir dir_{"af-stored-names"};
  const fs::path& root_ = dir_.path();
  UniqueFd dir_fd_;
};

TEST_F(StoredNamesTest, AFoldingDirectoryAdmitsOnlyTheNamesItStoresExactly) {
  const StoredNames names(dir_fd_.get(), /*folds=*/true);
  EXPECT_TRUE(names.admits("README.md"));
  EXPECT_TRUE(names.admits(".env"));
  EXPECT_FALSE(names.admits(".ENV"));
  EXPECT_FALSE(names.admits("readme.md"));
  EXPECT_FALSE(names.admits("README.md."));  // SMB's trailing dot
  EXPECT_FALSE(names.admits("absent"));
}

TEST_F(StoredNamesTest, ADirectoryThatCannotFoldAdmitsEveryName) {
  const StoredNames names(dir_fd_.get(), /*folds=*/false);
  EXPECT_TRUE(names.admits(".ENV"));
  EXPECT_TRUE(names.admits("absent"));
}

TEST_F(StoredNamesTest, AFileSystemNotKnownNeverToFoldCountsAsFolding) {
  const UniqueFd proc(::open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(proc);
  EXPECT_EQ(folding_of(proc.get()), Folding::kAlways);
  EXPECT_TRUE(may_fold_names(proc.get()));
}

TEST_F(StoredNamesTest, AnOrdinaryTestDirectoryDoesNotFold) {
  // The common case must take the cheap path (ext4, tmpfs, xfs, btrfs, overlayfs
  // without casefold); elsewhere (NFS, 9p, FUSE) there is nothing to check here.
  struct statfs st {};
  ASSERT_EQ(::fstatfs(dir_fd_.get(), &st), 0);
  if (folding_of(dir_fd_.get()) == Folding::kAlways)
    GTEST_SKIP() << "test directory on a file system of type " << std::hex << st.f_type;
  EXPECT_FALSE(may_fold_names(dir_fd_.get()));
  EXPECT_TRUE(StoredNames(dir_fd_.get()).admits(".ENV"));
}

}  // namespace
}  // namespace agentfense::layer
