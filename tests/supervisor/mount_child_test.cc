// MountChild (supervisor/mount_child.h) with stand-in programs: the supervisor's side of
// starting an fs process, waiting for it to be live and stopping it, whatever the
// process does.
#include "supervisor/mount_child.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "common/errors.h"
#include "common/unique_fd.h"
#include "test_support/temp_dir.h"

namespace agentfense::supervisor {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

// A stand-in for `agentfense mount`: finds --ready-fd and --state-dir in its arguments,
// then runs `body` (sh) with $ready and $state set.
constexpr const char* kPrologue = R"(#!/bin/sh
while [ $# -gt 0 ]; do
  case "$1" in
    --ready-fd) ready=$2 ;;
    --state-dir) state=$2 ;;
  esac
  shift
done
)";

class MountChildTest : public ::testing::Test {
 protected:
  std::string program(const std::string& body) {
    const fs::path path = root_ / "fake-agentfense";
    std::ofstream(path) << kPrologue << body;
    fs::permissions(path, fs::perms::owner_all);
    return path;
  }
  MountChildSpec spec(const std::string& program_path) const {
    return {.program = program_path,
            .base_dir = root_ / "base",
            .mountpoint = root_ / "mnt",  // nothing is mounted: umount2 fails harmlessly
            .state_dir = root_,
            .policy_json_file = root_ / "policy.json"};
  }

  // The error starting `program_path` fails with: "errno: message".
  std::string start_failure(const std::string& program_path, milliseconds ready_timeout) const {
    try {
      MountChild child(spec(program_path), ready_timeout);
    } catch (const SystemError& error) {
      return std::to_string(error.code()) + ": " + error.what();
    }
    return "started";
  }

  const testing::TempDir dir_{"af-mount-child"};
  const fs::path& root_ = dir_.path();
};

TEST_F(MountChildTest, AProgramThatCannotRunIsNamedWithItsError) {
  EXPECT_EQ(start_failure(root_ / "missing", milliseconds(2000)),
            std::to_string(ENOENT) +
                ": sandbox child: execve agentfense mount: " + std::strerror(ENOENT));
}

TEST_F(MountChildTest, AProcessThatExitsBeforeItIsReadyReportsItsStatus) {
  EXPECT_EQ(start_failure(program("exit 3\n"), milliseconds(5000)),
            std::to_string(EIO) +
                ": mount process did not become ready (exit status 3): " + std::strerror(EIO));
}

TEST_F(MountChildTest, AProcessThatNeverSaysReadyIsStoppedAfterTheTimeout) {
  EXPECT_EQ(start_failure(program("exec sleep 60\n"), milliseconds(300)),
            std::to_string(ETIMEDOUT) + ": mount process did not become ready (exit status 143): " +
                std::strerror(ETIMEDOUT));  // 143: stopped by SIGTERM
}

TEST_F(MountChildTest, ReadyThenStoppedBySigterm) {
  // An fd the supervisor left inheritable (no O_CLOEXEC) must not reach the fs process;
  // the ready pipe must.
  const UniqueFd leak(::open((root_ / "leak-me").c_str(), O_CREAT | O_WRONLY, 0600));
  ASSERT_TRUE(leak);
  MountChild child(spec(program(R"(ls -l /proc/$$/fd > "$state/fds"
eval "printf x >&$ready"
eval "exec $ready>&-"
exec sleep 60
)")));
  std::stringstream fds;
  fds << std::ifstream(root_ / "fds").rdbuf();
  EXPECT_EQ(fds.str().find("leak-me"), std::string::npos) << fds.str();
  EXPECT_NE(fds.str().find("pipe:"), std::string::npos) << fds.str();
  EXPECT_EQ(child.stop(), 128 + SIGTERM);
  EXPECT_EQ(child.stop(), 0);  // once stopped, nothing left to stop
}

TEST_F(MountChildTest, AProcessIgnoringSigtermIsKilled) {
  MountChild child(spec(program(R"(trap '' TERM
eval "printf x >&$ready"
while :; do sleep 1; done
)")));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(child.stop(), 128 + SIGKILL);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));  // the grace
}

}  // namespace
}  // namespace agentfense::supervisor
