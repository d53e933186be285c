// Which cgroup a rootless run may use for its limits (cgroup_delegation.h), over a fake
// /sys/fs/cgroup laid out as systemd delegates user@UID.service. Needs root (chown).
#include "runtime/cgroup_delegation.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace agentfense::runtime {
namespace {

namespace fsys = std::filesystem;
constexpr uid_t kUser = 4242;
constexpr const char* kService = "/user.slice/user-4242.slice/user@4242.service";
constexpr const char* kOwn = "/user.slice/user-4242.slice/user@4242.service/app.slice/term.scope";

class DelegationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to chown the fake cgroup tree";
    char pattern[] = "/tmp/af-cgdeleg-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    root_ = pattern;
    for (std::string dir = kOwn; dir.size() > 1; dir.resize(dir.rfind('/'))) make(dir, 0);
  }
  void TearDown() override {
    if (!root_.empty()) fsys::remove_all(root_);
  }
  // A cgroup directory with the files delegation hands over, owned by `uid`.
  void make(const std::string& relative, uid_t uid,
            const std::string& controllers = "cpu memory pids") {
    const std::string dir = root_ + relative;
    fsys::create_directories(dir);
    for (const char* file : {"cgroup.procs", "cgroup.subtree_control", "cgroup.controllers"}) {
      std::ofstream(dir + "/" + file)
          << (std::string(file) == "cgroup.controllers" ? controllers : "");
      ASSERT_EQ(::chown((dir + "/" + file).c_str(), uid, uid), 0);
    }
    ASSERT_EQ(::chown(dir.c_str(), uid, uid), 0);
  }
  void delegate(const std::string& controllers = "cpu memory pids") {
    make(kService, kUser, controllers);
    make(std::string(kService) + "/app.slice", kUser);
    make(kOwn, kUser);
  }
  std::string root_;
};

TEST_F(DelegationTest, FindsTheUserServiceAboveOurOwnCgroup) {
  delegate();
  EXPECT_EQ(find_delegated_cgroup(root_, kOwn, kUser), root_ + kService);
  EXPECT_EQ(find_delegated_cgroup(root_, std::string(kOwn) + "/", kUser), root_ + kService);
}

TEST_F(DelegationTest, NothingOwnedMeansNoCgroup) {
  EXPECT_EQ(find_delegated_cgroup(root_, kOwn, kUser), "");
}

TEST_F(DelegationTest, AnotherUsersDelegationIsNotOurs) {
  delegate();
  EXPECT_EQ(find_delegated_cgroup(root_, kOwn, kUser + 1), "");
}

TEST_F(DelegationTest, OurOwnCgroupAloneCannotHoldTheSandboxes) {
  make(kOwn, kUser);  // e.g. a delegated scope we sit in: it holds processes
  EXPECT_EQ(find_delegated_cgroup(root_, kOwn, kUser), "");
}

TEST_F(DelegationTest, AFileNotHandedOverStopsTheWalk) {
  delegate();
  ASSERT_EQ(::chown((root_ + kService + "/cgroup.procs").c_str(), 0, 0), 0);
  EXPECT_EQ(find_delegated_cgroup(root_, kOwn, kUser), root_ + kService + "/app.slice");
}

TEST_F(DelegationTest, MissingControllersMeanNoLimits) {
  delegate("cpu memory");
  EXPECT_EQ(find_delegated_cgroup(root_, kOwn, kUser), "");
}

TEST_F(DelegationTest, MalformedPathsAreRefused) {
  delegate();
  EXPECT_EQ(find_delegated_cgroup(root_, "", kUser), "");
  EXPECT_EQ(find_delegated_cgroup(root_, "relative/path", kUser), "");
  EXPECT_EQ(find_delegated_cgroup(root_, std::string(kOwn) + "/../..", kUser), "");
}

}  // namespace
}  // namespace agentfense::runtime
