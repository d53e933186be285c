// Issue 9 item 2: the caller's environment reaches the command and nothing else. bwrap
// runs on the host, outside every namespace and without seccomp, so a loader variable
// (LD_PRELOAD, LD_AUDIT, LD_LIBRARY_PATH, GCONV_PATH, ...) in its environment would run
// the caller's code there. The attack preloads a library that reports every process it
// is loaded into; the workspace fd bwrap holds (/proc/self/fd/N/...) reaches the
// library the same way the agent reached its own build output.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "runtime/sandbox_process.h"
#include "runtime/shell_session.h"
#include "sandbox_fixture.h"

namespace agentfense::runtime {
namespace {

using namespace std::chrono_literals;

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class LauncherEnvTest : public SandboxTest {
 protected:
  void SetUp() override {
    SandboxTest::SetUp();
    if (IsSkipped()) return;
    // Host /tmp: writable by the sandbox's host uid, while the command's /tmp is private.
    host_marker_ = "/tmp/af-preload-marker-" + unique_marker();
    std::filesystem::copy_file(AF_PRELOAD_MARKER_PATH, workspace_dir_ + "/marker.so");
  }
  void TearDown() override {
    std::filesystem::remove(host_marker_);
    SandboxTest::TearDown();
  }

  // The library as bwrap could reach it (through its workspace fd) and as the command
  // reaches it; whichever process loads it leaves a line in $AF_MARKER.
  std::string library_paths() const {
    return "/proc/self/fd/" + std::to_string(workspace_fd_.get()) +
           "/marker.so /workspace/marker.so";
  }
  void expect_no_host_process_loaded_it() const {
    EXPECT_FALSE(std::filesystem::exists(host_marker_))
        << "the caller's library ran outside the sandbox:\n"
        << read_all(host_marker_);
  }

  std::string host_marker_;
};

TEST_F(LauncherEnvTest, CallersLdPreloadRunsInTheCommandNeverInBwrap) {
  ExecSpec spec = shell("echo \"$LD_PRELOAD\"; cat \"$AF_MARKER\"");
  spec.env = {{"LD_PRELOAD", library_paths()}, {"AF_MARKER", host_marker_}};
  const ExecResult result = run_sandboxed(spec);
  EXPECT_EQ(result.exit_code, 0) << result.stderr_data;
  // The command got the variable and its loader honoured it (in the private /tmp).
  EXPECT_NE(result.stdout_data.find(library_paths()), std::string::npos) << result.stdout_data;
  EXPECT_NE(result.stdout_data.find("/usr/bin/cat"), std::string::npos) << result.stdout_data;
  expect_no_host_process_loaded_it();
}

TEST_F(LauncherEnvTest, CallersLdAuditRunsInTheCommandNeverInBwrap) {
  ExecSpec spec = shell("cat \"$AF_MARKER\"");
  spec.env = {{"LD_AUDIT", "/proc/self/fd/" + std::to_string(workspace_fd_.get()) +
                               "/marker.so:/workspace/marker.so"},
              {"AF_MARKER", host_marker_}};
  const ExecResult result = run_sandboxed(spec);
  EXPECT_NE(result.stdout_data.find("/usr/bin/cat"), std::string::npos)
      << result.stdout_data << result.stderr_data;
  expect_no_host_process_loaded_it();
}

TEST_F(LauncherEnvTest, SessionEnvRunsInTheShellNeverInBwrap) {
  SessionSpec s;
  s.workspace_fd = workspace_fd_.get();
  std::tie(s.host_uid, s.host_gid) = default_sandbox_ids();
  s.env = {{"LD_PRELOAD", library_paths()}, {"AF_MARKER", host_marker_}};
  ShellSession session(s);
  const ExecResult result = session.exec("echo \"$LD_PRELOAD\"; cat \"$AF_MARKER\"", 60s);
  EXPECT_NE(result.stdout_data.find(library_paths()), std::string::npos) << result.stdout_data;
  EXPECT_NE(result.stdout_data.find("/usr/bin/cat"), std::string::npos) << result.stdout_data;
  session.close();
  expect_no_host_process_loaded_it();
}

// Every loader/libc/shell start-up variable at once, by looking at what the host-side
// bwrap processes (the outer one and the sandbox's init) were started with: our fixed
// environment, and a command line without any environment value.
TEST_F(LauncherEnvTest, BwrapProcessesHoldNoneOfTheCallersEnvironment) {
  const std::string value = "af-env-value-" + unique_marker();
  ExecSpec spec = shell("exec sleep 60");
  spec.env = {{"LD_LIBRARY_PATH", "/" + value}, {"LD_PRELOAD", "/" + value + ".so"},
              {"GCONV_PATH", "/" + value},      {"BASH_ENV", "/" + value},
              {"MALLOC_CHECK_", "3"},           {"SECRET_TOKEN", value}};
  SandboxProcess process = SandboxProcess::start(spec);
  ASSERT_NE(process.cgroup(), nullptr);
  std::vector<pid_t> bwraps;
  pid_t command = -1;
  for (int attempt = 0; attempt < 500 && command < 0; ++attempt) {
    bwraps.clear();
    for (const pid_t pid : process.cgroup()->members()) {
      const std::string comm = read_all("/proc/" + std::to_string(pid) + "/comm");
      if (comm == "bwrap\n") bwraps.push_back(pid);
      if (comm == "sleep\n") command = pid;
    }
    if (command < 0) std::this_thread::sleep_for(10ms);
  }
  ASSERT_GT(command, 0) << "the command never started";
  EXPECT_EQ(bwraps.size(), 2u);  // the outer bwrap and the sandbox's init
  for (const pid_t pid : bwraps) {
    const std::string proc = "/proc/" + std::to_string(pid);
    EXPECT_EQ(read_all(proc + "/environ"), std::string("PATH=/usr/sbin:/usr/bin:/sbin:/bin\0", 35))
        << "pid " << pid;
    const std::string cmdline = read_all(proc + "/cmdline");
    EXPECT_EQ(cmdline.find(value), std::string::npos) << cmdline;
    EXPECT_EQ(cmdline.find("SECRET_TOKEN"), std::string::npos) << cmdline;
  }
  const std::string command_env = read_all("/proc/" + std::to_string(command) + "/environ");
  EXPECT_NE(command_env.find("SECRET_TOKEN=" + value), std::string::npos);
  EXPECT_NE(command_env.find("LD_LIBRARY_PATH=/" + value), std::string::npos);
  process.terminate();
}

TEST_F(LauncherEnvTest, InitInsideTheSandboxShowsNoEnvironmentValue) {
  const std::string value = "af-env-value-" + unique_marker();
  ExecSpec spec = shell("cat /proc/1/cmdline; echo; cat /proc/1/environ; echo; echo \"$TOKEN\"");
  spec.env = {{"TOKEN", value}};
  const ExecResult result = run_sandboxed(spec);
  EXPECT_EQ(result.exit_code, 0) << result.stderr_data;
  const auto first = result.stdout_data.find(value);
  ASSERT_NE(first, std::string::npos) << "the command did not get its variable";
  EXPECT_EQ(first, result.stdout_data.rfind(value)) << result.stdout_data;  // only the echo
  EXPECT_NE(result.stdout_data.find("bwrap"), std::string::npos) << result.stdout_data;
}

}  // namespace
}  // namespace agentfense::runtime
