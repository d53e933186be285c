#include "server/orphan_fs.h"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <vector>

#include "common/child_process.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/unique_fd.h"
#include "layer/state_lock.h"

namespace agentfense::server {
namespace {

// How long orphaned fs processes get to finish what they do (a commit) and exit, and
// then to go after SIGKILL (one may be waiting on its own dead mount).
constexpr std::chrono::seconds kCommitGrace{60};
constexpr std::chrono::seconds kKillGrace{10};

std::vector<std::string> cmdline_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  const std::string raw{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  std::vector<std::string> args;
  std::string::size_type start = 0;
  while (start < raw.size()) {
    const auto end = raw.find('\0', start);
    args.push_back(raw.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return args;
}

// `pid` is an `agentfense mount` serving `state_dir` (supervisor/mount_child.cc's argv),
// not some other process that took the lock, nor a pid reused since it was written.
bool serves(pid_t pid, const std::string& state_dir) {
  const std::vector<std::string> args = cmdline_of(pid);
  if (args.size() < 2 || args[1] != "mount") return false;
  for (std::size_t i = 2; i + 1 < args.size(); ++i)
    if (args[i] == "--state-dir" && args[i + 1] == state_dir) return true;
  return false;
}

struct Orphan {
  pid_t pid;
  UniqueFd pidfd;
  std::string state_dir;
};

// The fs process holding `lock_dir`'s state lock, when it is one the server started for
// `state_dir` (the path it was given; a destroyed sandbox's tree has moved to the trash
// since).
std::optional<Orphan> holder_of(const std::string& lock_dir, const std::string& state_dir) {
  const std::optional<pid_t> pid = layer::StateLock::holder(lock_dir);
  if (!pid) return std::nullopt;
  // pidfd first, then the check: the pid cannot be reused under the signals that follow.
  UniqueFd pidfd;
  if (*pid > 0) pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, *pid, 0)));
  if (!pidfd || !serves(*pid, state_dir)) {
    log::warn("server.state_lock_held", {{"state_dir", state_dir},
                                         {"pid", static_cast<int>(*pid)},
                                         {"why", "not an fs process of this server: left alone"}});
    return std::nullopt;
  }
  return Orphan{*pid, std::move(pidfd), state_dir};
}

std::vector<Orphan> find_orphans(const std::string& sandboxes_dir) {
  namespace fs = std::filesystem;
  std::vector<Orphan> found;
  for (const fs::path& dir : {fs::path(sandboxes_dir), fs::path(sandboxes_dir) / ".trash"}) {
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(dir, error)) {
      const std::string id = entry.path().filename().string();
      if (id.starts_with(".")) continue;
      try {
        if (auto orphan = holder_of(entry.path() / "state", sandboxes_dir + "/" + id + "/state"))
          found.push_back(std::move(*orphan));
      } catch (const std::exception& failed) {
        log::error("server.orphaned_fs_check_failed",
                   {{"sandbox_id", id}, {"error", failed.what()}});
      }
    }
  }
  return found;
}

void send_signal(const Orphan& orphan, int number) {
  (void)::syscall(SYS_pidfd_send_signal, orphan.pidfd.get(), number, nullptr, 0);
}

}  // namespace

int end_orphaned_fs(const std::string& sandboxes_dir) {
  std::vector<Orphan> orphans = find_orphans(sandboxes_dir);
  // Each has had SIGTERM (its parent died) and exits once its commit is done: a commit
  // cut short leaves a batch of ".agentfense-commit-*" files in the codebase. So they get
  // time to finish (together), and SIGKILL only after.
  const auto finish_by = std::chrono::steady_clock::now() + kCommitGrace;
  for (const Orphan& orphan : orphans) {
    log::warn("server.orphaned_fs_waiting", {{"state_dir", orphan.state_dir},
                                             {"pid", static_cast<int>(orphan.pid)},
                                             {"grace_s", kCommitGrace.count()}});
    send_signal(orphan, SIGTERM);
  }
  int ended = 0;
  for (const Orphan& orphan : orphans) {
    bool killed = false;
    if (!exits_by(orphan.pidfd.get(), finish_by)) {
      killed = true;
      send_signal(orphan, SIGKILL);
      if (!exits_by(orphan.pidfd.get(), std::chrono::steady_clock::now() + kKillGrace)) {
        log::error("server.orphaned_fs_stuck",
                   {{"state_dir", orphan.state_dir}, {"pid", static_cast<int>(orphan.pid)}});
        continue;
      }
    }
    log::warn("server.orphaned_fs_ended", {{"state_dir", orphan.state_dir},
                                           {"pid", static_cast<int>(orphan.pid)},
                                           {"killed", killed}});
    ++ended;
  }
  return ended;
}

}  // namespace agentfense::server
