// Limits and timeouts, attacked from inside: allocation past the memory limit, fork
// bombs, and daemons that try to outlive a timeout.
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "common/errors.h"
#include "runtime/cgroup_backends.h"
#include "sandbox_fixture.h"

namespace agentfense::runtime {
namespace {

using Limits_ = SandboxTest;

// Host processes whose command line matches `pattern` (pgrep -f). Callers write the
// pattern as "[s]leep ..." so it does not match the shell popen() runs pgrep in.
int count_host_processes(const std::string& pattern) {
  const std::string command = "pgrep -fc -- '" + pattern + "'";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return -1;
  int count = -1;
  if (std::fscanf(pipe, "%d", &count) != 1) count = -1;
  ::pclose(pipe);  // pgrep exits 1 when nothing matched; the count already says so
  return count;
}

// Our exec cgroups (exec-<our pid>-*) still present under the pids hierarchy.
int leftover_cgroups() {
  const std::string parent = v1_own_cgroup_path("pids") + "/agentfense";
  const std::string prefix = "exec-" + std::to_string(::getpid()) + "-";
  std::error_code ignored;  // no parent directory yet: nothing left over
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(parent, ignored))
    if (entry.path().filename().string().rfind(prefix, 0) == 0) ++count;
  return count;
}

TEST_F(Limits_, MemoryLimitKillsAnAllocator) {
  ExecSpec spec = shell("");
  spec.argv = {"python3", "-c", "b = b'x' * (300 << 20); print('survived')"};
  spec.limits.memory_bytes = 64 << 20;
  const ExecResult r = run_sandboxed(spec);
  EXPECT_EQ(r.stdout_data, "");
  EXPECT_EQ(r.exit_code, 128 + SIGKILL) << r.stderr_data;  // the OOM killer
  EXPECT_FALSE(r.timed_out);
  EXPECT_TRUE(r.oom_killed);  // the result says which limit did it
  EXPECT_FALSE(r.pids_limit_reached);
}

TEST_F(Limits_, OomKillOfAChildIsReportedThoughTheCommandExitsZero) {
  ExecSpec spec = shell("python3 -c \"b = b'x' * (300 << 20)\"; echo after $?");
  spec.limits.memory_bytes = 64 << 20;
  const ExecResult r = run_sandboxed(spec);
  EXPECT_EQ(r.exit_code, 0) << r.stderr_data;
  EXPECT_EQ(r.stdout_data, "after 137\n");
  EXPECT_TRUE(r.oom_killed);
}

TEST_F(Limits_, SigkillIsNotAnOomKillAndNoLimitIsReportedWhenNoneWasHit) {
  ExecSpec spec = shell("kill -9 $$");
  spec.limits = {.memory_bytes = 64 << 20, .pids_limit = 50};
  const ExecResult killed = run_sandboxed(spec);
  EXPECT_EQ(killed.exit_code, 128 + SIGKILL);
  EXPECT_FALSE(killed.oom_killed);
  EXPECT_FALSE(killed.pids_limit_reached);
  spec = shell("for i in 1 2 3; do true & done; wait; echo ok");
  spec.limits = {.memory_bytes = 64 << 20, .pids_limit = 50};
  const ExecResult fine = run_sandboxed(spec);
  EXPECT_EQ(fine.stdout_data, "ok\n");
  EXPECT_FALSE(fine.oom_killed);
  EXPECT_FALSE(fine.pids_limit_reached);
}

TEST_F(Limits_, MemoryUnderTheLimitWorks) {
  ExecSpec spec = shell("");
  spec.argv = {"python3", "-c", "b = b'x' * (16 << 20); print('ok')"};
  spec.limits.memory_bytes = 128 << 20;
  EXPECT_EQ(run_sandboxed(spec).stdout_data, "ok\n");
}

TEST_F(Limits_, PidsLimitBoundsForking) {
  ExecSpec spec = shell("");
  spec.argv = {"python3", "-c",
               "import os, time\n"
               "n = 0\n"
               "try:\n"
               "  for _ in range(200):\n"
               "    if os.fork() == 0:\n      time.sleep(30); os._exit(0)\n"
               "    n += 1\n"
               "except OSError: pass\n"
               "print(n)\n"};
  spec.limits.pids_limit = 20;
  const ExecResult r = run_sandboxed(spec);
  ASSERT_FALSE(r.stdout_data.empty()) << r.stderr_data;
  EXPECT_LT(std::stoi(r.stdout_data), 20);
  EXPECT_GT(std::stoi(r.stdout_data), 5);
  EXPECT_TRUE(r.pids_limit_reached);
  EXPECT_FALSE(r.oom_killed);
}

TEST_F(Limits_, ForkBombIsContainedAndTheCallReturns) {
  ExecSpec spec = shell("bomb() { bomb | bomb & }; bomb; sleep 100");
  spec.limits.pids_limit = 64;
  spec.timeout = std::chrono::seconds(3);
  const ExecResult r = run_sandboxed(spec);
  EXPECT_LT(r.duration, std::chrono::seconds(30));
  EXPECT_TRUE(r.pids_limit_reached);
  EXPECT_EQ(leftover_cgroups(), 0);
}

TEST_F(Limits_, TimeoutKillsTheWholeTreeIncludingDaemons) {
  const std::string marker = "1000." + unique_marker();
  ExecSpec spec =
      shell("setsid sleep " + marker + " & (setsid sh -c 'sleep " + marker + "' &) ; nohup sleep " +
            marker + " >/dev/null 2>&1 & echo started; sleep " + marker);
  spec.timeout = std::chrono::milliseconds(1500);
  const ExecResult r = run_sandboxed(spec);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.exit_code, 128 + SIGKILL);
  EXPECT_EQ(r.stdout_data, "started\n");  // output before the kill is kept
  EXPECT_GE(r.duration, std::chrono::milliseconds(1500));
  EXPECT_EQ(count_host_processes("[s]leep " + marker), 0);
}

TEST_F(Limits_, DaemonsDoNotOutliveANormalExit) {
  const std::string marker = "1000." + unique_marker();
  const ExecResult r = run_shell("setsid sleep " + marker + " & echo bye");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(count_host_processes("[s]leep " + marker), 0);
}

TEST_F(Limits_, CgroupsAreRemovedAfterEachRun) {
  ExecSpec spec = shell("true");
  spec.limits = {.memory_bytes = 64 << 20, .cpu_quota = 50000, .cpu_shares = 512, .pids_limit = 50};
  EXPECT_EQ(run_sandboxed(spec).exit_code, 0);
  EXPECT_EQ(leftover_cgroups(), 0);
}

TEST_F(Limits_, CpuQuotaThrottles) {
  ExecSpec spec = shell("");
  // Busy-loop for 0.5 s of wall time; at 10 ms per 100 ms period (Docker's unit, a tenth
  // of one CPU) it gets about 0.05 s of CPU.
  spec.argv = {"python3", "-c",
               "import time, resource\n"
               "end = time.time() + 0.5\n"
               "while time.time() < end: pass\n"
               "print(resource.getrusage(resource.RUSAGE_SELF).ru_utime)\n"};
  spec.limits.cpu_quota = 10000;
  const ExecResult r = run_sandboxed(spec);
  ASSERT_EQ(r.exit_code, 0) << r.stderr_data;
  EXPECT_LT(std::stod(r.stdout_data), 0.25);
}

TEST_F(Limits_, CpuQuotaBelowTheKernelsMinimumIsRefused) {
  ExecSpec spec = shell("true");
  spec.limits.cpu_quota = 999;  // the old millicores reading of "one CPU"
  EXPECT_THROW(run_sandboxed(spec), UserError);
}

}  // namespace
}  // namespace agentfense::runtime
