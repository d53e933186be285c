// SandboxCgroup on its own: creation with limits, joining, killing, removal, for both
// backends (v2 runs on a hybrid host's /sys/fs/cgroup/unified when present).
#include "runtime/cgroup.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "runtime/cgroup_backends.h"

namespace agentfense::runtime {
namespace {

constexpr const char* kHybridUnifiedRoot = "/sys/fs/cgroup/unified";

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::string read_first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// Puts a process that would live forever into `cgroup`, destroys the cgroup, and
// checks the process was SIGKILLed and every directory removed.
void expect_destruction_kills_and_removes(std::unique_ptr<SandboxCgroup> cgroup) {
  const std::vector<std::string> paths = cgroup->paths();
  ASSERT_FALSE(paths.empty());
  for (const std::string& path : paths) EXPECT_TRUE(exists(path)) << path;

  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    for (const int fd : cgroup->join_fds())
      if (::write(fd, "0", 1) != 1) ::_exit(1);
    ::pause();
    ::_exit(0);
  }
  for (const std::string& path : paths)
    while (read_first_line(path + "/cgroup.procs").empty()) ::usleep(1000);
  cgroup.reset();
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  for (const std::string& path : paths) EXPECT_FALSE(exists(path)) << path;
}

class CgroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  }
};

TEST_F(CgroupTest, HostBackendWritesLimits) {
  auto cgroup = SandboxCgroup::create({.memory_bytes = 64 << 20, .pids_limit = 7});
  bool saw_pids = false, saw_memory = false;
  for (const std::string& path : cgroup->paths()) {
    if (exists(path + "/pids.max")) {
      saw_pids = true;
      EXPECT_EQ(read_first_line(path + "/pids.max"), "7");
    }
    for (const char* file : {"/memory.limit_in_bytes", "/memory.max"}) {
      if (!exists(path + file)) continue;
      saw_memory = true;
      EXPECT_EQ(read_first_line(path + file), std::to_string(64 << 20));
    }
  }
  EXPECT_TRUE(saw_pids);
  EXPECT_TRUE(saw_memory);
}

TEST_F(CgroupTest, HostBackendKillsMembersAndRemovesItself) {
  expect_destruction_kills_and_removes(SandboxCgroup::create({.pids_limit = 7}));
}

TEST_F(CgroupTest, V2BackendKillsMembersAndRemovesItself) {
  if (!exists(std::string(kHybridUnifiedRoot) + "/cgroup.procs"))
    GTEST_SKIP() << "no cgroup2 hierarchy at " << kHybridUnifiedRoot;
  // No limits: a hybrid host's v2 tree has no controllers, but cgroup.kill works.
  expect_destruction_kills_and_removes(
      std::make_unique<CgroupV2>(Limits{}, next_cgroup_name(), kHybridUnifiedRoot));
}

TEST_F(CgroupTest, NamesAreUnique) {
  EXPECT_NE(next_cgroup_name(), next_cgroup_name());
}

}  // namespace
}  // namespace agentfense::runtime
