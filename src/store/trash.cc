#include "store/trash.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "common/errors.h"
#include "common/idle_io.h"
#include "common/log.h"
#include "common/unique_fd.h"
#include "common/user_text.h"
#include "layer/safe_walk.h"
#include "store/ids.h"

namespace agentfense::store {
namespace {

constexpr int kLowestNice = 19;

// The remover may only use what the sandboxes leave: the disk space it frees is not
// urgent. Per thread on Linux; best effort (a container may refuse either).
void lower_own_priority() {
  const auto self = static_cast<id_t>(::syscall(SYS_gettid));
  if (::setpriority(PRIO_PROCESS, self, kLowestNice) != 0)
    log::debug("store.trash_nice_failed", {{"errno", errno}});
  if (set_idle_io_priority() != 0) log::debug("store.trash_ioprio_failed", {{"errno", errno}});
}

}  // namespace

Trash::~Trash() {
  {
    const std::lock_guard guard(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Trash::take(int dir_fd, const std::string& name, const std::string& label) {
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST)
    throw SystemError("mkdir " + dir_, errno);
  const UniqueFd trash(check_syscall(
      ::open(dir_.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), "open " + dir_));
  const std::string moved = new_id(label);
  if (::renameat(dir_fd, name.c_str(), trash.get(), moved.c_str()) != 0) {
    if (errno == ENOENT) return false;
    throw SystemError("move " + name + " into " + dir_, errno);
  }
  {
    const std::lock_guard guard(mutex_);
    pending_ = true;
  }
  changed_.notify_all();
  return true;
}

void Trash::later(Job job) {
  {
    const std::lock_guard guard(mutex_);
    jobs_.push_back(std::move(job));
  }
  changed_.notify_all();
}

void Trash::start() {
  const std::lock_guard guard(mutex_);
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
}

bool Trash::wait_idle() {
  std::unique_lock lock(mutex_);
  if (!thread_.joinable()) return false;
  changed_.wait(lock, [this] { return stop_ || (!pending_ && !busy_ && jobs_.empty()); });
  return true;
}

void Trash::run() {
  lower_own_priority();
  std::unique_lock lock(mutex_);
  while (true) {
    changed_.wait(lock, [this] { return stop_ || pending_ || !jobs_.empty(); });
    if (stop_) return;
    std::vector<Job> jobs = std::move(jobs_);
    jobs_.clear();
    pending_ = false;
    busy_ = true;
    lock.unlock();
    for (const Job& job : jobs) job(stop_);
    empty_trash();
    lock.lock();
    busy_ = false;
    changed_.notify_all();  // wait_idle()
  }
}

void Trash::empty_trash() {
  const UniqueFd trash(::open(dir_.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!trash) return;  // nothing was ever put there
  const auto began = std::chrono::steady_clock::now();
  int removed = 0;
  try {
    for (const std::string& name : layer::list_names(trash.get())) {
      try {
        if (!layer::remove_tree_at(trash.get(), name, stop_)) {
          log::info("store.trash_removal_stopped", {{"why", "shutdown: the next start goes on"}});
          return;
        }
        ++removed;
      } catch (const SystemError& error) {
        // What cannot be removed now (an immutable file) is retried by the next pass.
        log::warn("store.trash_removal_incomplete",
                  {{"entry", escape_user_text(name)}, {"error", error.what()}});
      }
    }
  } catch (const SystemError& error) {
    log::warn("store.trash_removal_incomplete", {{"error", error.what()}});
  }
  if (removed > 0)
    log::info("store.trash_emptied", {{"trees", removed},
                                      {"ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                                 std::chrono::steady_clock::now() - began)
                                                 .count()}});
}

}  // namespace agentfense::store
