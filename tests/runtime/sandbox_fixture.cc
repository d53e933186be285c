#include "sandbox_fixture.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>

namespace agentfense::runtime {

void SandboxTest::SetUp() {
  if (::geteuid() != 0) GTEST_SKIP() << "runtime tests need root (cgroups, dropping to uid)";
  char pattern[] = "/tmp/af-runtime-XXXXXX";
  ASSERT_NE(::mkdtemp(pattern), nullptr);
  root_only_dir_ = pattern;
  ASSERT_EQ(::chmod(root_only_dir_.c_str(), 0700), 0);
  workspace_dir_ = root_only_dir_ + "/workspace";
  ASSERT_EQ(::mkdir(workspace_dir_.c_str(), 0755), 0);
  const auto [uid, gid] = default_sandbox_ids();
  ASSERT_EQ(::chown(workspace_dir_.c_str(), uid, gid), 0);
  workspace_fd_.reset(::open(workspace_dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(workspace_fd_.valid());
}

void SandboxTest::TearDown() {
  workspace_fd_.reset();
  if (!root_only_dir_.empty()) std::filesystem::remove_all(root_only_dir_);
}

ExecSpec SandboxTest::shell(const std::string& script) const {
  ExecSpec spec;
  spec.argv = {"/bin/sh", "-c", script};
  spec.workspace_fd = workspace_fd_.get();
  std::tie(spec.host_uid, spec.host_gid) = default_sandbox_ids();
  spec.timeout = std::chrono::seconds(60);  // a hung test fails instead of blocking CI
  return spec;
}

ExecResult SandboxTest::run_python(const std::string& code) const {
  ExecSpec spec = shell("");
  spec.argv = {"python3", "-c", code};
  return run_sandboxed(spec);
}

std::string unique_marker() {
  static std::atomic<int> counter{0};
  return std::to_string(::getpid()) + std::to_string(counter++) +
         std::to_string(::time(nullptr) % 100000);
}

}  // namespace agentfense::runtime
