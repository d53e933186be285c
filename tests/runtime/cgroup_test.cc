// SandboxCgroup on its own: creation with limits, joining, killing, removal, for both
// backends (v2 runs on a hybrid host's /sys/fs/cgroup/unified when present).
#include "runtime/cgroup.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
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

// Forks a process into `cgroup` that tries to fork `wanted` sleeping children; returns
// how many it could fork. They live until the cgroup is destroyed.
int fork_into(const SandboxCgroup& cgroup, int wanted) {
  int report[2];
  if (::pipe(report) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    for (const int fd : cgroup.join_fds())
      if (::write(fd, "0", 1) != 1) ::_exit(1);
    int forked = 0;
    for (int i = 0; i < wanted; ++i) {
      const pid_t child = ::fork();
      if (child == 0) {
        ::pause();
        ::_exit(0);
      }
      if (child > 0) ++forked;
    }
    (void)!::write(report[1], &forked, sizeof forked);
    ::pause();
    ::_exit(0);
  }
  ::close(report[1]);
  int forked = -1;
  if (::read(report[0], &forked, sizeof forked) != sizeof forked) forked = -1;
  ::close(report[0]);
  return forked;
}

TEST_F(CgroupTest, SandboxLimitsBoundItsCgroupsTogether) {
  const auto sandbox = SandboxCgroup::create_for_sandbox({.pids_limit = 16});
  auto first = SandboxCgroup::create({.pids_limit = 16}, sandbox);
  auto second = SandboxCgroup::create({.pids_limit = 16}, sandbox);
  for (const auto* cgroup : {first.get(), second.get()})
    for (const std::string& path : cgroup->paths()) {
      const std::string base = path.substr(0, path.rfind('/'));
      EXPECT_NE(std::find(sandbox->paths().begin(), sandbox->paths().end(), base),
                sandbox->paths().end())
          << path << " is not below the sandbox's cgroup";
    }
  // 1 + 10 processes in the first; the second may hold only the 5 left, though its own
  // limit would allow 16.
  EXPECT_EQ(fork_into(*first, 10), 10);
  EXPECT_EQ(fork_into(*second, 10), 4);
  EXPECT_GT(second->limit_hits().pids_refused, 0u);
  const std::vector<std::string> paths = sandbox->paths();
  first.reset();
  second.reset();
  for (const std::string& path : paths) EXPECT_TRUE(exists(path)) << path;  // still ours
}

TEST_F(CgroupTest, SandboxCgroupOutlivesItsChildrenAndGoesLast) {
  auto sandbox = SandboxCgroup::create_for_sandbox({.pids_limit = 16});
  const std::vector<std::string> paths = sandbox->paths();
  for (const std::string& path : paths)
    EXPECT_NE(path.find("/sandbox-" + std::to_string(::getpid()) + "-"), std::string::npos);
  auto child = SandboxCgroup::create({}, sandbox);
  sandbox.reset();  // the child keeps it
  for (const std::string& path : paths) EXPECT_TRUE(exists(path)) << path;
  expect_destruction_kills_and_removes(std::move(child));
  for (const std::string& path : paths) EXPECT_FALSE(exists(path)) << path;
}

TEST_F(CgroupTest, ADeadServersSandboxCgroupsAreRemovedWithTheirMembers) {
  // A process that dies holding a sandbox cgroup with an exec cgroup and a member in it
  // (a server killed with SIGKILL) leaves them; the next cgroup made anywhere removes them.
  int report[2];
  ASSERT_EQ(::pipe(report), 0);
  const pid_t server = ::fork();
  ASSERT_GE(server, 0);
  if (server == 0) {
    auto* sandbox = new std::shared_ptr<const SandboxCgroup>(
        SandboxCgroup::create_for_sandbox({.pids_limit = 16}));
    auto* exec = SandboxCgroup::create({.pids_limit = 16}, *sandbox).release();
    const pid_t member = ::fork();
    if (member == 0) {
      ::close(report[1]);  // the test reads until the "server" is gone
      for (const int fd : exec->join_fds())
        if (::write(fd, "0", 1) != 1) ::_exit(1);
      ::pause();
      ::_exit(0);
    }
    while (exec->members().empty()) ::usleep(1000);
    std::string listed;
    for (const std::string& path : exec->paths()) listed += path + "\n";
    (void)!::write(report[1], listed.data(), listed.size());
    ::_exit(0);  // no destructor runs: the cgroups stay behind
  }
  ::close(report[1]);
  std::string listed;
  char buffer[4096];
  for (ssize_t n; (n = ::read(report[0], buffer, sizeof buffer)) > 0;) listed.append(buffer, n);
  ::close(report[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(server, &status, 0), server);
  ASSERT_FALSE(listed.empty());
  std::vector<std::string> stale;
  for (std::size_t start = 0, end; (end = listed.find('\n', start)) != std::string::npos;
       start = end + 1) {
    stale.push_back(listed.substr(start, end - start));
    stale.push_back(stale.back().substr(0, stale.back().rfind('/')));  // the sandbox's
  }
  for (const std::string& path : stale) ASSERT_TRUE(exists(path)) << path;
  (void)SandboxCgroup::create({.pids_limit = 16});
  for (const std::string& path : stale) EXPECT_FALSE(exists(path)) << path;
}

}  // namespace
}  // namespace agentfense::runtime
