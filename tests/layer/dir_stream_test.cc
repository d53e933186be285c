// DirStream (common/dir_stream.h), the one readdir loop, and list_names built on it.
#include "common/dir_stream.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/errors.h"
#include "common/unique_fd.h"
#include "layer/safe_walk.h"
#include "test_support/temp_dir.h"

namespace agentfense {
namespace {

namespace fs = std::filesystem;

class DirStreamTest : public ::testing::Test {
 protected:
  UniqueFd open_path(const fs::path& path) const {
    return UniqueFd(::open(path.c_str(), O_PATH | O_CLOEXEC));
  }
  std::vector<std::string> names_of(DirStream& dir) {
    std::vector<std::string> names;
    while (const dirent* entry = dir.next()) names.emplace_back(entry->d_name);
    std::sort(names.begin(), names.end());
    return names;
  }
  const testing::TempDir dir_{"af-dirstream"};
  const fs::path& root_ = dir_.path();
};

TEST_F(DirStreamTest, ListsEveryEntryButDotAndDotDot) {
  std::ofstream(root_ / "b.txt") << "b";
  fs::create_directory(root_ / "a dir");
  fs::create_symlink("nowhere", root_ / "c-link");
  const UniqueFd dir_fd = open_path(root_);  // O_PATH: DirStream opens "." itself
  DirStream dir(dir_fd.get());
  ASSERT_TRUE(dir);
  EXPECT_EQ(names_of(dir), (std::vector<std::string>{"a dir", "b.txt", "c-link"}));
  EXPECT_EQ(dir.error(), 0);
  EXPECT_EQ(dir.next(), nullptr);  // stays at the end
  // The caller's fd is still the caller's.
  EXPECT_EQ(::fcntl(dir_fd.get(), F_GETFD), FD_CLOEXEC);
}

TEST_F(DirStreamTest, AnEmptyDirectoryHasNoEntries) {
  DirStream dir(root_.c_str());
  ASSERT_TRUE(dir);
  EXPECT_EQ(dir.next(), nullptr);
  EXPECT_EQ(dir.error(), 0);
}

TEST_F(DirStreamTest, AdoptsAnFdOpenedForReading) {
  std::ofstream(root_ / "only") << "x";
  DirStream dir =
      DirStream::adopt(UniqueFd(::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)));
  ASSERT_TRUE(dir);
  EXPECT_EQ(names_of(dir), std::vector<std::string>{"only"});
  DirStream none = DirStream::adopt(UniqueFd());
  EXPECT_FALSE(none);
  EXPECT_EQ(none.error(), EBADF);
}

TEST_F(DirStreamTest, FailuresToOpenSayWhy) {
  DirStream missing((root_ / "missing").c_str());
  EXPECT_FALSE(missing);
  EXPECT_EQ(missing.error(), ENOENT);
  EXPECT_EQ(missing.next(), nullptr);
  std::ofstream(root_ / "file") << "x";
  const UniqueFd file_fd = open_path(root_ / "file");
  DirStream not_dir(file_fd.get());
  EXPECT_FALSE(not_dir);
  EXPECT_EQ(not_dir.error(), ENOTDIR);
}

TEST_F(DirStreamTest, EntriesCanBeStatedThroughTheStreamFd) {
  fs::create_directory(root_ / "sub");
  DirStream dir(root_.c_str());
  const dirent* entry = dir.next();
  ASSERT_NE(entry, nullptr);
  struct stat st {};
  ASSERT_EQ(::fstatat(dir.fd(), entry->d_name, &st, AT_SYMLINK_NOFOLLOW), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
}

TEST_F(DirStreamTest, ListNamesIsSortedAndThrowsNamingTheFailure) {
  for (const char* name : {"zeta", "alpha", "mid"}) std::ofstream(root_ / name) << name;
  const UniqueFd dir_fd = open_path(root_);
  EXPECT_EQ(layer::list_names(dir_fd.get()), (std::vector<std::string>{"alpha", "mid", "zeta"}));
  const UniqueFd file_fd = open_path(root_ / "mid");
  try {
    layer::list_names(file_fd.get());
    ADD_FAILURE() << "listed a file";
  } catch (const SystemError& error) {
    EXPECT_EQ(error.code(), ENOTDIR);
  }
}

}  // namespace
}  // namespace agentfense
