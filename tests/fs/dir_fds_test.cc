// The bounded directory fds of the fs (src/fs/dir_fd_cache.h, dir_handle.h): the cache
// never keeps more than its capacity, gives used entries a second chance, lets go of a
// dropped one, and a reopen finds only the same directory, never through a symlink.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include "fs/dir_fd_cache.h"
#include "fs/dir_handle.h"
#include "test_support/temp_dir.h"

namespace agentfense::fs {
namespace {

DirHandle open_dir(const std::string& path) {
  return make_dir_handle(UniqueFd(::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)));
}

TEST(DirFdCache, KeepsAtMostItsCapacityAndClosesWhatItEvicts) {
  const testing::TempDir tmp_dir("af-dir-fds");
  const std::string tmp = tmp_dir.path();
  DirFdCache cache(4);
  std::weak_ptr<const DirFd> first;
  for (int i = 0; i < 50; ++i) {
    DirHandle fd = open_dir(tmp);
    ASSERT_TRUE(fd);
    if (i == 0) first = fd;
    fd->used = false;
    (void)cache.keep(std::move(fd));
    EXPECT_LE(cache.size(), 4u);
  }
  EXPECT_TRUE(first.expired());  // evicted and, unused, closed
}

TEST(DirFdCache, AUsedEntryGetsASecondChance) {
  const testing::TempDir tmp_dir("af-dir-fds");
  const std::string tmp = tmp_dir.path();
  DirFdCache cache(2);
  DirHandle hot = open_dir(tmp);
  std::weak_ptr<const DirFd> hot_ref = hot;
  (void)cache.keep(std::move(hot));
  for (int i = 0; i < 10; ++i) {
    if (DirHandle again = hot_ref.lock()) again->used = true;  // what a request does
    DirHandle cold = open_dir(tmp);
    cold->used = false;
    (void)cache.keep(std::move(cold));
  }
  EXPECT_FALSE(hot_ref.expired());
}

TEST(DirFdCache, DropLetsGoOfOneEntry) {
  const testing::TempDir tmp_dir("af-dir-fds");
  const std::string tmp = tmp_dir.path();
  DirFdCache cache(8);
  DirHandle fd = open_dir(tmp);
  const DirFd* key = fd.get();
  std::weak_ptr<const DirFd> ref = fd;
  (void)cache.keep(std::move(fd));
  EXPECT_EQ(cache.drop(key).get(), key);
  EXPECT_TRUE(ref.expired());
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.drop(key), nullptr);
}

TEST(ReopenDir, FindsTheSameDirectoryAtAPathLongerThanPathMax) {
  const testing::TempDir tmp_dir("af-dir-fds");
  const std::string tmp = tmp_dir.path();
  const std::string name(200, 'd');
  std::string path;
  UniqueFd dir(::open(tmp.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  for (int depth = 0; depth < 30; ++depth) {  // 6,030 bytes: more than PATH_MAX
    ASSERT_EQ(::mkdirat(dir.get(), name.c_str(), 0700), 0);
    dir.reset(::openat(dir.get(), name.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    path += "/" + name;
  }
  const DirHandle deepest = make_dir_handle(std::move(dir));
  ASSERT_TRUE(deepest);
  const DirHandle root = open_dir(tmp);
  const DirHandle again = reopen_dir(root->get(), path, deepest->id);
  ASSERT_TRUE(again) << std::strerror(errno);
  EXPECT_EQ(again->id, deepest->id);
}

TEST(ReopenDir, RefusesAnotherDirectoryAtThePathAndSymlinks) {
  const testing::TempDir tmp_dir("af-dir-fds");
  const std::string tmp = tmp_dir.path();
  const std::string a = tmp + "/a";
  ASSERT_EQ(::mkdir(a.c_str(), 0700), 0);
  const DirHandle original = open_dir(a);
  const DirHandle root = open_dir(tmp);
  ASSERT_EQ(::rename(a.c_str(), (tmp + "/b").c_str()), 0);
  ASSERT_EQ(::mkdir(a.c_str(), 0700), 0);
  EXPECT_EQ(reopen_dir(root->get(), "/a", original->id), nullptr);
  EXPECT_EQ(errno, ESTALE);
  ASSERT_EQ(::rmdir(a.c_str()), 0);
  ASSERT_EQ(::symlink("b", a.c_str()), 0);  // now leads to the original directory
  EXPECT_EQ(reopen_dir(root->get(), "/a", original->id), nullptr);
  EXPECT_EQ(reopen_dir(root->get(), "/../" + std::filesystem::path(tmp).filename().string() + "/b",
                       original->id),
            nullptr);
  EXPECT_TRUE(reopen_dir(root->get(), "/b", original->id));
}

}  // namespace
}  // namespace agentfense::fs
