// drop_task_privileges (runtime/credentials.h) in a vfork child, as SandboxProcess::start
// runs it: the child becomes the sandbox's ids, and no thread of ours changes with it
// (glibc's set*id wrappers act on every thread of what they take to be their process).
#include "runtime/credentials.h"

#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>

#include "common/child_process.h"
#include "runtime/exec.h"

namespace agentfense::runtime {
namespace {

// "Uid:" line of a thread of ours: real, effective, saved, filesystem.
std::string uid_line(pid_t tid) {
  std::ifstream status("/proc/self/task/" + std::to_string(tid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.starts_with("Uid:")) return line;
  return "";
}

TEST(CredentialsTest, AVforkChildDropsItsIdsAndNoThreadOfOursDoes) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  const auto [uid, gid] = default_sandbox_ids();
  // A second thread of ours, parked while the child runs.
  std::mutex mu;
  std::condition_variable changed;
  pid_t other = 0;
  bool done = false;
  std::thread parked([&] {
    std::unique_lock lock(mu);
    other = static_cast<pid_t>(::syscall(SYS_gettid));
    changed.notify_all();
    changed.wait(lock, [&] { return done; });
  });
  {
    std::unique_lock lock(mu);
    changed.wait(lock, [&] { return other != 0; });
  }
  const std::string before = uid_line(other);
  // Built here: the child may not allocate. It exits 0 only as the sandbox's uid.
  const std::string check =
      "test \"$(id -u):$(id -g)\" = " + std::to_string(uid) + ":" + std::to_string(gid);
  ChildProcess child = ChildProcess::spawn_vfork([&]() -> ChildFailure {
    if (const ChildFailure failure = drop_task_privileges(uid, gid); failure.step) return failure;
    ::execl("/bin/sh", "sh", "-c", check.c_str(), static_cast<char*>(nullptr));
    return {"execl /bin/sh", errno};
  });
  EXPECT_EQ(child.wait(), 0);
  EXPECT_EQ(::geteuid(), 0u);
  EXPECT_EQ(::getuid(), 0u);
  EXPECT_EQ(uid_line(other), before);
  EXPECT_NE(before.find("\t0\t0\t0\t0"), std::string::npos) << before;
  {
    const std::lock_guard lock(mu);
    done = true;
  }
  changed.notify_all();
  parked.join();
}

}  // namespace
}  // namespace agentfense::runtime
