// Issue 9 item 3: host ids are leased one per running sandbox and come back on release.
#include <gtest/gtest.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <optional>
#include <vector>

#include "common/errors.h"
#include "supervisor/host_ids.h"

namespace agentfense::supervisor {
namespace {

class HostIdLeaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/af-ids-XXXXXX";
    ASSERT_NE(::mkdtemp(templ), nullptr);
    dir_ = std::string(templ) + "/ids";
  }
  void TearDown() override {
    std::filesystem::remove_all(std::filesystem::path(dir_).parent_path());
  }
  std::string dir_;
};

// After a reboot /run is empty: the default lease directory's parent must be made too
// (a server with its own data dir found "mkdir /run/agentfense/ids: No such file").
// Run in a child with a private mount namespace and an empty tmpfs on /run.
TEST(HostIdLeaseDefaultDir, WorksOnAFreshRun) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for a mount namespace";
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (::unshare(CLONE_NEWNS) < 0) ::_exit(10);
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) ::_exit(11);
    if (::mount("tmpfs", "/run", "tmpfs", 0, "mode=0755") < 0) ::_exit(12);
    try {
      const HostIdLease lease = HostIdLease::acquire(IdRange{5100, 5101}, "");
      ::_exit(lease.uid() == 5100 && std::filesystem::exists("/run/agentfense/ids/5100") ? 0 : 13);
    } catch (const std::exception&) {
      ::_exit(14);
    }
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10-12: set-up failed; 14: acquire threw";
}

TEST_F(HostIdLeaseTest, EachLeaseGetsItsOwnIdUntilReleased) {
  const IdRange range{5000, 5002};
  std::vector<HostIdLease> leases;
  for (uid_t expected = 5000; expected <= 5002; ++expected) {
    leases.push_back(HostIdLease::acquire(range, dir_));
    EXPECT_EQ(leases.back().uid(), expected);
    EXPECT_EQ(leases.back().gid(), expected);
  }
  try {
    HostIdLease::acquire(range, dir_);
    FAIL() << "a fourth lease from three ids";
  } catch (const SystemError& e) {
    EXPECT_EQ(e.code(), EAGAIN);
    EXPECT_NE(std::string(e.what()).find("5000-5002"), std::string::npos) << e.what();
  }
  leases.erase(leases.begin() + 1);  // returns 5001
  EXPECT_EQ(HostIdLease::acquire(range, dir_).uid(), 5001u);
}

// A start tries the id after the last one leased first (one lock file, not one per
// running sandbox), so a returned id is the last to be handed out again.
TEST_F(HostIdLeaseTest, AReturnedIdIsReusedOnlyAfterTheOthers) {
  const IdRange range{6000, 6003};
  std::optional<HostIdLease> first(HostIdLease::acquire(range, dir_));
  const HostIdLease second = HostIdLease::acquire(range, dir_);
  EXPECT_EQ(first->uid(), 6000u);
  EXPECT_EQ(second.uid(), 6001u);
  first.reset();  // returns 6000
  const HostIdLease third = HostIdLease::acquire(range, dir_);
  const HostIdLease fourth = HostIdLease::acquire(range, dir_);
  const HostIdLease fifth = HostIdLease::acquire(range, dir_);  // wraps around
  EXPECT_EQ(third.uid(), 6002u);
  EXPECT_EQ(fourth.uid(), 6003u);
  EXPECT_EQ(fifth.uid(), 6000u);
}

TEST_F(HostIdLeaseTest, LeasesAreExclusiveAcrossProcessesAndReturnWhenOneDies) {
  const IdRange range{7000, 7001};
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const HostIdLease held = HostIdLease::acquire(range, dir_);
    (void)!::write(ready[1], "x", 1);
    ::pause();  // killed by the parent; the kernel then drops the lock
    ::_exit(0);
  }
  char byte;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);
  EXPECT_EQ(HostIdLease::acquire(range, dir_).uid(), 7001u);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  EXPECT_EQ(HostIdLease::acquire(range, dir_).uid(), 7000u);
  ::close(ready[0]);
  ::close(ready[1]);
}

TEST(IdRange, ParsesAndRefusesBadRanges) {
  EXPECT_EQ(parse_id_range("100-200"), (IdRange{100, 200}));
  EXPECT_EQ(to_string(kDefaultIdRange), "1879048192-1879113727");
  for (const char* bad : {"", "5", "5-", "-5", "0-5", "9-5", "1-4294967295", "1-x", " 1-2"})
    EXPECT_THROW(parse_id_range(bad), UserError) << bad;
}

}  // namespace
}  // namespace agentfense::supervisor
