#include "common/private_dir.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errors.h"
#include "test_support/temp_dir.h"

namespace agentfense {
namespace {

using testing::TempDir;

mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST(PrivateDir, CreatesAMissingDirectoryWithMode0700) {
  const TempDir tmp("af-private");
  const std::string dir = tmp.path() / "locks";
  const UniqueFd fd = open_private_dir(dir);
  ASSERT_TRUE(fd);
  EXPECT_EQ(mode_of(dir), 0700u);
}

TEST(PrivateDir, AcceptsItsOwnDirectoryAndTakesAwayOthersAccess) {
  const TempDir tmp("af-private");
  const std::string dir = tmp.path() / "runs";
  ASSERT_EQ(::mkdir(dir.c_str(), 0777), 0);
  ASSERT_EQ(::chmod(dir.c_str(), 0777), 0);  // past the umask
  EXPECT_TRUE(open_private_dir(dir + "/"));
  EXPECT_EQ(mode_of(dir), 0700u);
}

TEST(PrivateDir, RefusesAPlantedSymlinkAndLeavesItsTargetAlone) {
  const TempDir tmp("af-private");
  const std::string target = tmp.path() / "someone-elses";
  ASSERT_EQ(::mkdir(target.c_str(), 0755), 0);
  const std::string link = tmp.path() / "locks";
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  try {
    (void)open_private_dir(link);
    FAIL() << "a symlink was accepted";
  } catch (const UserError& error) {
    EXPECT_EQ(std::string(error.what()),
              link + " is not a directory owned by us; refusing to use it");
  }
  EXPECT_EQ(mode_of(target), 0755u);  // never chmod'ed through the link
}

TEST(PrivateDir, RefusesAFileInItsPlace) {
  const TempDir tmp("af-private");
  const std::string file = tmp.path() / "locks";
  ASSERT_EQ(::close(::creat(file.c_str(), 0600)), 0);
  EXPECT_THROW((void)open_private_dir(file), UserError);
}

TEST(PrivateDir, RefusesAnotherUsersDirectory) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give a directory away";
  const TempDir tmp("af-private");
  const std::string dir = tmp.path() / "locks";
  ASSERT_EQ(::mkdir(dir.c_str(), 0777), 0);
  ASSERT_EQ(::chown(dir.c_str(), 65534, 65534), 0);
  ASSERT_EQ(::chmod(dir.c_str(), 0777), 0);
  EXPECT_THROW((void)open_private_dir(dir), UserError);
  EXPECT_EQ(mode_of(dir), 0777u);  // left as its owner made it
}

TEST(PrivateDir, RelativeToAParentFdNamesThePathInErrors) {
  const TempDir tmp("af-private");
  const UniqueFd parent(::open(tmp.path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(parent);
  ASSERT_EQ(::symlink("/", (tmp.path() / "x").c_str()), 0);
  try {
    (void)open_private_dir(parent.get(), "x", "/shown/x");
    FAIL() << "a symlink was accepted";
  } catch (const UserError& error) {
    EXPECT_EQ(std::string(error.what()),
              "/shown/x is not a directory owned by us; refusing to use it");
  }
  EXPECT_TRUE(open_private_dir(parent.get(), "y", "/shown/y"));
}

}  // namespace
}  // namespace agentfense
