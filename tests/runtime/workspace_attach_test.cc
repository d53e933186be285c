// workspace_attach.h against a real bwrap boundary started without a workspace: until
// the attach, /workspace is an empty directory; afterwards the command sees exactly the
// workspace there (nosuid, nodev, private), the host's mount table is unchanged, and a
// process outside the boundary is refused as the way in.
#include "runtime/workspace_attach.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>

#include "common/errors.h"
#include "runtime/sandbox_process.h"
#include "sandbox_fixture.h"

namespace agentfense::runtime {
namespace {

using namespace std::chrono_literals;

class WorkspaceAttachTest : public SandboxTest {};

// What `fd` yields until `until` appears in it (or 20 s pass, or EOF).
std::string read_until(int fd, const std::string& until, std::string& seen) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (seen.find(until) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    seen.append(buf, static_cast<std::size_t>(n));
  }
  return seen;
}

std::vector<pid_t> children_of(pid_t pid) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  std::vector<pid_t> out;
  for (pid_t child; file >> child;) out.push_back(child);
  return out;
}

// bwrap (ours) -> its pid 1 -> the command.
pid_t command_of(pid_t bwrap) {
  for (int i = 0; i < 200; ++i) {
    for (const pid_t init : children_of(bwrap))
      for (const pid_t command : children_of(init)) return command;
    ::usleep(10'000);
  }
  return -1;
}

// Mounts in the host's table that show `dir` (its last two components: a bind of it
// shows them in its root field, wherever the filesystem holding it is mounted). Only
// those: other tests mount and unmount meanwhile (ctest -j2), which made a count of
// every mount fail now and then.
std::size_t host_mounts_of(const std::string& dir) {
  const std::string tail = dir.substr(dir.rfind('/', dir.rfind('/') - 1));
  std::ifstream file("/proc/self/mountinfo");
  std::size_t lines = 0;
  for (std::string line; std::getline(file, line);) lines += line.find(tail) != std::string::npos;
  return lines;
}

ExecSpec waiting_command(const ExecSpec& base) {
  ExecSpec spec = base;
  spec.workspace_fd = -1;
  spec.workdir = "/";
  spec.argv = {
      "/bin/sh", "-c",
      "echo \"before=[$(ls -A /workspace)]\"; echo ready; "
      "i=0; until [ -e /workspace/marker ] || [ $i -ge 2000 ]; do sleep 0.01; i=$((i+1)); done; "
      "cat /workspace/marker; grep ' /workspace ' /proc/self/mountinfo"};
  return spec;
}

TEST_F(WorkspaceAttachTest, CommandsSeeExactlyTheWorkspaceOnceAttached) {
  std::ofstream(workspace_dir_ + "/marker") << "the workspace\n";
  SandboxProcess box = SandboxProcess::start(waiting_command(shell("")), {}, true,
                                             /*workspace_later=*/true);
  const UniqueFd out = box.take_stdout();
  std::string seen;
  read_until(out.get(), "ready\n", seen);
  ASSERT_NE(seen.find("before=[]\n"), std::string::npos) << seen;
  const pid_t command = command_of(box.pid());
  ASSERT_GT(command, 0);
  const std::size_t before = host_mounts_of(workspace_dir_);
  attach_workspace(workspace_fd_.get(), command, box.pid());
  EXPECT_EQ(host_mounts_of(workspace_dir_), before)
      << "the attach left a mount in the host's table";
  read_until(out.get(), "/workspace ", seen);
  read_until(out.get(), "\n", seen);
  EXPECT_NE(seen.find("the workspace\n"), std::string::npos) << seen;
  const std::string line = seen.substr(seen.find("the workspace\n") + 14);
  EXPECT_NE(line.find("nosuid"), std::string::npos) << line;
  EXPECT_NE(line.find("nodev"), std::string::npos) << line;
  // Private: no peer group shared with the host, no master to receive from.
  EXPECT_EQ(line.find("shared:"), std::string::npos) << line;
  EXPECT_EQ(line.find("master:"), std::string::npos) << line;
}

TEST_F(WorkspaceAttachTest, AProcessOutsideTheBoundaryIsNoWayIn) {
  SandboxProcess box = SandboxProcess::start(waiting_command(shell("")), {}, true, true);
  const UniqueFd out = box.take_stdout();
  std::string seen;
  read_until(out.get(), "ready\n", seen);
  const std::size_t before = host_mounts_of(workspace_dir_);
  // Ourselves, and bwrap's own outer process (in the staging namespace, not the box's).
  EXPECT_THROW(attach_workspace(workspace_fd_.get(), ::getpid(), box.pid()), SystemError);
  EXPECT_THROW(attach_workspace(workspace_fd_.get(), box.pid(), box.pid()), SystemError);
  const pid_t command = command_of(box.pid());
  ASSERT_GT(command, 0);
  // The right process, but not under this bwrap.
  EXPECT_THROW(attach_workspace(workspace_fd_.get(), command, ::getpid()), SystemError);
  EXPECT_EQ(host_mounts_of(workspace_dir_), before);
  box.kill_tree();
  box.terminate();
  // A boundary that is gone: nothing to attach to.
  EXPECT_THROW(attach_workspace(workspace_fd_.get(), command, box.pid()), SystemError);
}

}  // namespace
}  // namespace agentfense::runtime
