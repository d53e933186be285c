#include "fs_fixture.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace agentfense::fs::testing {
namespace {

// Drops to the agent uid; a uid change away from 0 clears every capability.
void become_agent() {
  if (::setgroups(0, nullptr) < 0 || ::setresgid(kAgentGid, kAgentGid, kAgentGid) < 0 ||
      ::setresuid(kAgentUid, kAgentUid, kAgentUid) < 0) {
    ::_exit(120);
  }
}

int wait_status(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The test mounts live in a mount namespace of this process's own. A namespace another
// process creates copies its creator's mounts; with ours in the host's, one made while a
// test's FUSE mount stood (a sandbox of a test running beside this one) kept a copy of
// it, the lazy unmount at teardown did not end the connection, and the test waited as
// long as that namespace lived (a 6 s namespace: a 6 s test; 25 s hangs under load).
class PrivateMounts : public ::testing::Environment {
 public:
  void SetUp() override {
    if (::geteuid() != 0) return;  // rootless: no mount namespace, and no mounts of ours
    // Before any test starts a thread: unshare(CLONE_NEWNS) refuses a shared fs_struct.
    ASSERT_EQ(::unshare(CLONE_NEWNS), 0) << "unshare: " << std::strerror(errno);
    ASSERT_EQ(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0)
        << "make / private: " << std::strerror(errno);
  }
};
[[maybe_unused]] ::testing::Environment* const kPrivateMounts =
    ::testing::AddGlobalTestEnvironment(new PrivateMounts);

}  // namespace

void MountedFs::SetUp() {
  char pattern[] = "/tmp/affs-XXXXXX";
  ASSERT_NE(::mkdtemp(pattern), nullptr);
  root_ = pattern;
  ASSERT_EQ(::chmod(root_.c_str(), 0755), 0);  // the agent uid must reach the mountpoint
  base_ = root_ + "/base";
  state_ = root_ + "/state";
  mnt_ = root_ + "/mnt";
  audit_ = root_ + "/audit.jsonl";
  ASSERT_EQ(::mkdir(base_.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(mnt_.c_str(), 0755), 0);
}

void MountedFs::TearDown() {
  unmount();
  std::error_code ignored;  // best effort: a leftover temp dir must not fail the test
  std::filesystem::remove_all(root_, ignored);
}

void MountedFs::base_file(const std::string& rel, const std::string& content, mode_t mode) {
  std::filesystem::create_directories(std::filesystem::path(base_path(rel)).parent_path());
  std::ofstream(base_path(rel), std::ios::binary) << content;
  ASSERT_EQ(::chmod(base_path(rel).c_str(), mode), 0);
}

void MountedFs::base_dir(const std::string& rel, mode_t mode) {
  std::filesystem::create_directories(base_path(rel));
  ASSERT_EQ(::chmod(base_path(rel).c_str(), mode), 0);
}

void MountedFs::mount(std::vector<policy::Rule> rules) {
  policy_ = std::make_unique<policy::Policy>(policy::Policy::compile(std::move(rules)));
  base_fd_ = ::open(base_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(base_fd_, 0);
  MountOptions options;
  options.base_dirfd = base_fd_;
  options.state_dir = state_;
  options.mountpoint = mnt_;
  options.policy = policy_.get();
  options.owner_uid = kAgentUid;
  options.owner_gid = kAgentGid;
  options.audit_path = audit_;
  options.prefetch = prefetch_;
  // CTest runs the suite twice: over io_uring where the kernel offers it, and with
  // AF_TEST_FUSE_URING=0 through /dev/fuse only.
  const char* uring = std::getenv("AF_TEST_FUSE_URING");
  options.uring = !(uring && std::string(uring) == "0");
  options.quota = quota_;
  options.idle_workers = idle_workers_;
  session_ = std::make_unique<Session>(options);
  loop_ = std::thread([this] { session_->run(); });
}

void MountedFs::unmount() {
  if (!session_) return;
  // A lazy unmount ends the kernel connection, which ends the session loop.
  if (::umount2(mnt_.c_str(), MNT_DETACH) < 0) session_->exit();
  loop_.join();
  session_.reset();
  ::close(base_fd_);
  base_fd_ = -1;
}

pid_t MountedFs::fork_agent() {
  const pid_t pid = ::fork();
  if (pid == 0) become_agent();
  return pid;
}

int MountedFs::wait_agent(pid_t pid) {
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    return -1;
  }
  return wait_status(pid);
}

int MountedFs::agent_sh(const std::string& cmd, std::string* out) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) < 0) return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    become_agent();
    if (::chdir(mnt_.c_str()) < 0) ::_exit(121);
    char* const env[] = {const_cast<char*>("PATH=/usr/bin:/bin"),
                         const_cast<char*>("HOME=/nonexistent"),
                         const_cast<char*>("GIT_CONFIG_NOSYSTEM=1"), nullptr};
    ::execle("/bin/sh", "sh", "-c", cmd.c_str(), nullptr, env);
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  std::string output;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buf, sizeof buf)) > 0) output.append(buf, n);
  ::close(pipe_fds[0]);
  if (out) *out = output;
  return wait_status(pid);
}

std::string MountedFs::base_digest() const {
  std::vector<std::string> lines;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(base_)) {
    struct stat st;
    ::lstat(entry.path().c_str(), &st);
    std::ostringstream line;
    line << entry.path().string() << ' ' << std::oct << st.st_mode << ' ';
    if (S_ISREG(st.st_mode)) {
      std::ifstream in(entry.path(), std::ios::binary);
      line << std::hash<std::string>{}(std::string(std::istreambuf_iterator<char>(in), {}));
    }
    lines.push_back(line.str());
  }
  std::sort(lines.begin(), lines.end());
  std::string digest;
  for (const auto& line : lines) digest += line + '\n';
  return digest;
}

std::vector<std::string> MountedFs::agent_listing(const std::string& rel) {
  std::string out;
  EXPECT_EQ(agent_sh("ls -A '" + rel + "'", &out), 0) << rel;
  std::vector<std::string> names;
  std::istringstream in(out);
  for (std::string name; std::getline(in, name);) names.push_back(name);
  return names;
}

}  // namespace agentfense::fs::testing
