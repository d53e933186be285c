// Which cgroup a rootless run may use for its limits (cgroup_delegation.h), over a fake
// /sys/fs/cgroup laid out as systemd delegates user@UID.service. Needs root (chown).
#include "runtime/cgroup_delegation.h"

#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "runtime/cgroup_backends.h"

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

// The mechanics on a real cgroup2 tree (a hybrid host's, without controllers): a user
// owning a delegated cgroup, sitting in a child of it, creates the sandbox cgroup beside,
// moves a process in (the common ancestor is theirs) and kills it through cgroup.kill.
constexpr const char* kUnified = "/sys/fs/cgroup/unified";

bool chown_delegated(const std::string& dir) {
  for (const char* name : {"", "/cgroup.procs", "/cgroup.subtree_control", "/cgroup.threads"})
    if (::chown((dir + name).c_str(), kUser, kUser) != 0) return false;
  return true;
}

// Runs in a forked child: exits 0 when every step worked, else the failed step's number.
[[noreturn]] void as_delegated_user(const std::string& delegated) {
  std::ofstream(delegated + "/shell/cgroup.procs") << ::getpid() << std::flush;
  if (::setgroups(0, nullptr) != 0 || ::setresgid(kUser, kUser, kUser) != 0 ||
      ::setresuid(kUser, kUser, kUser) != 0)
    ::_exit(2);
  try {
    CgroupV2 cgroup(Limits{}, next_cgroup_name(), delegated);
    const pid_t member = ::fork();
    if (member == 0) {
      for (const int fd : cgroup.join_fds())
        if (::write(fd, "0", 1) != 1) ::_exit(1);
      ::pause();
      ::_exit(0);
    }
    for (int i = 0; i < 5000 && cgroup.members().empty(); ++i) ::usleep(1000);
    if (cgroup.members() != std::vector<pid_t>{member}) ::_exit(3);
    cgroup.kill_all();
    int status = 0;
    if (::waitpid(member, &status, 0) != member || !WIFSIGNALED(status)) ::_exit(4);
  } catch (...) {
    ::_exit(5);
  }
  ::_exit(0);
}

TEST(DelegatedCgroup, TheOwnerCreatesJoinsAndKillsWithoutRoot) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to delegate a cgroup";
  if (::access((std::string(kUnified) + "/cgroup.procs").c_str(), F_OK) != 0)
    GTEST_SKIP() << "no cgroup2 hierarchy at " << kUnified;
  const std::string delegated = std::string(kUnified) + "/af-deleg-" + std::to_string(::getpid());
  ASSERT_EQ(::mkdir(delegated.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((delegated + "/shell").c_str(), 0755), 0);
  ASSERT_TRUE(chown_delegated(delegated) && chown_delegated(delegated + "/shell"));
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) as_delegated_user(delegated);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "failed step " << status;
  for (const char* leftover : {"/agentfense", "/shell", ""})
    EXPECT_EQ(::rmdir((delegated + leftover).c_str()), 0) << delegated << leftover;
}

}  // namespace
}  // namespace agentfense::runtime
