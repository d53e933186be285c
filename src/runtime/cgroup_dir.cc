#include "runtime/cgroup_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string_view>
#include <thread>

#include "common/errors.h"

namespace agentfense::runtime {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(2);
constexpr int kMaxKillRounds = 5000;  // ~10 s: only a kernel stuck in D state gets here
constexpr int kMaxRmdirAttempts = 500;
// See next_cgroup_name(): "<kind>-<pid>-<n>", a sandbox's cgroup holding exec ones.
constexpr std::string_view kExecPrefix = "exec-";
constexpr std::string_view kSandboxPrefix = "sandbox-";

bool supervisor_alive(const std::string& name, std::string_view prefix) {
  const pid_t pid = static_cast<pid_t>(std::strtol(name.c_str() + prefix.size(), nullptr, 10));
  return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM);
}

}  // namespace

int sweep_stale_cgroups_in(const std::string& parent) {
  int removed = 0;
  std::error_code ec;  // an unreadable parent just means nothing to sweep
  for (const auto& entry : std::filesystem::directory_iterator(parent, ec)) {
    const std::string name = entry.path().filename();
    const bool sandbox = name.starts_with(kSandboxPrefix);
    if (!sandbox && !name.starts_with(kExecPrefix)) continue;
    if (supervisor_alive(name, sandbox ? kSandboxPrefix : kExecPrefix)) continue;
    // A dead supervisor's sandbox cgroup holds its exec cgroups: those go first, or
    // the sandbox's rmdir would fail.
    if (sandbox) sweep_stale_cgroups_in(entry.path());
    // Destroying the adopted cgroup kills its members and removes it.
    (void)CgroupDir::adopt(entry.path());
    ++removed;
  }
  return removed;
}

void ensure_cgroup_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) < 0 && errno != EEXIST) throw SystemError("mkdir " + path, errno);
  (void)sweep_stale_cgroups_in(path);  // the count is for a server's start-up log
}

CgroupDir CgroupDir::adopt(std::string path) {
  UniqueFd procs(::open((path + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC));
  return CgroupDir(std::move(path), std::move(procs));
}

CgroupDir::CgroupDir(std::string path) : path_(std::move(path)) {
  check_syscall(::mkdir(path_.c_str(), 0755), "mkdir " + path_);
  procs_.reset(::open((path_ + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC));
  if (!procs_) {
    const int err = errno;
    ::rmdir(path_.c_str());  // best effort: we are already failing with the open error
    throw SystemError("open " + path_ + "/cgroup.procs", err);
  }
}

CgroupDir::~CgroupDir() {
  if (!procs_) return;  // moved from
  kill_members_until_empty();
  procs_.reset();
  // A killed process leaves the cgroup slightly after it stops being listed, and rmdir
  // says EBUSY until then.
  for (int attempt = 0; attempt < kMaxRmdirAttempts; ++attempt) {
    if (::rmdir(path_.c_str()) == 0 || errno == ENOENT) return;
    if (errno != EBUSY) return;  // nothing better to do in a destructor; dir stays
    std::this_thread::sleep_for(kPollInterval);
  }
}

bool CgroupDir::has_file(const std::string& name) const {
  return ::access((path_ + "/" + name).c_str(), F_OK) == 0;
}

void CgroupDir::write(const std::string& name, const std::string& value) const {
  const std::string file = path_ + "/" + name;
  const UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) throw SystemError("open " + file, errno);
  const ssize_t written = ::write(fd.get(), value.data(), value.size());
  if (written < 0) throw SystemError("write '" + value + "' to " + file, errno);
  if (static_cast<std::size_t>(written) != value.size())
    throw SystemError("short write to " + file, EIO);
}

std::vector<pid_t> CgroupDir::members() const {
  std::vector<pid_t> pids;
  std::ifstream procs(path_ + "/cgroup.procs");
  for (pid_t pid; procs >> pid;) pids.push_back(pid);
  return pids;
}

void CgroupDir::kill_members_until_empty() const {
  for (int round = 0; round < kMaxKillRounds; ++round) {
    const std::vector<pid_t> pids = members();
    if (pids.empty()) return;
    // ESRCH (already gone) is the expected race; nothing else can fail as root.
    for (const pid_t pid : pids) (void)::kill(pid, SIGKILL);
    std::this_thread::sleep_for(kPollInterval);
  }
}

}  // namespace agentfense::runtime
