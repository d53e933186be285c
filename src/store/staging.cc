#include "store/staging.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <cerrno>

#include "common/errors.h"
#include "common/log.h"
#include "common/user_text.h"
#include "layer/safe_walk.h"
#include "policy/reserved_names.h"
#include "store/ids.h"
#include "store/trash.h"

namespace agentfense::store {
namespace {

constexpr int kDirFlags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
constexpr int kReadDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
constexpr std::string_view kStageIdPrefix = "stage_";

// Exactly the name StagingDir gives (".af-staging-stage_" and new_id's 16 lowercase hex
// digits): the sweep removes only what can be ours, in a directory that is the user's.
bool is_staging_name(std::string_view name) {
  if (!name.starts_with(policy::kStagingPrefix)) return false;
  name.remove_prefix(policy::kStagingPrefix.size());
  if (!name.starts_with(kStageIdPrefix)) return false;
  name.remove_prefix(kStageIdPrefix.size());
  if (name.size() != 16) return false;
  for (const char c : name)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

dev_t device_of(int fd, const std::string& what) {
  struct stat st {};
  check_syscall(::fstat(fd, &st), "stat " + what);
  return st.st_dev;
}

}  // namespace

StagingDir::StagingDir(const std::string& codebase_path, const std::string& files_dir) {
  const std::string shared = codebase_path + "/.staging";
  if (::mkdir(shared.c_str(), 0700) != 0 && errno != EEXIST) {
    throw SystemError("mkdir " + shared, errno);
  }
  UniqueFd shared_fd(check_syscall(::open(shared.c_str(), kDirFlags), "open " + shared));
  UniqueFd files_fd(check_syscall(::open(files_dir.c_str(), kDirFlags), "open " + files_dir));
  if (device_of(shared_fd.get(), shared) == device_of(files_fd.get(), files_dir)) {
    parent_ = std::move(shared_fd);
    name_ = new_id("stage_");
  } else {
    parent_ = std::move(files_fd);
    // Inside the served tree: the name is reserved, no sandbox sees it (reserved_names.h).
    name_ = std::string(policy::kStagingPrefix) + new_id(kStageIdPrefix);
  }
  check_syscall(::mkdirat(parent_.get(), name_.c_str(), 0700), "mkdir staging " + name_);
  dir_ = UniqueFd(
      check_syscall(::openat(parent_.get(), name_.c_str(), kDirFlags), "open staging " + name_));
  held_ = UniqueFd(check_syscall(::openat(parent_.get(), name_.c_str(), kReadDirFlags),
                                 "open staging " + name_));
  check_syscall(::flock(held_.get(), LOCK_EX), "lock staging " + name_);
}

StagingDir::~StagingDir() {
  dir_.reset();
  // Still held while it is removed: a sweep finding it now must not race the removal.
  try {
    layer::remove_tree_at(parent_.get(), name_);
  } catch (const std::exception&) {
    // Best effort: a destructor must not throw, and a leftover staging dir only wastes
    // space (it is never mounted or listed).
  }
}

std::vector<std::string> staging_leftovers(int root_fd) {
  std::vector<std::string> names;
  try {
    for (const std::string& name : layer::list_names(root_fd))
      if (is_staging_name(name)) names.push_back(name);
  } catch (const SystemError& error) {
    log::warn("store.staging_cleanup_incomplete", {{"error", error.what()}});
  }
  return names;
}

void remove_staging_leftovers(int root_fd, const std::vector<std::string>& names,
                              const std::atomic<bool>& stop) {
  for (const std::string& name : names) {
    try {
      const UniqueFd held(::openat(root_fd, name.c_str(), kReadDirFlags));
      if (!held) continue;  // gone, or not a directory: not one of ours
      // Held: an upload of another server on the same imported directory is using it.
      if (::flock(held.get(), LOCK_EX | LOCK_NB) != 0) continue;
      if (!layer::remove_tree_at(root_fd, name, stop)) return;  // shutdown: the next start
      log::info("store.staging_leftover_removed", {{"name", escape_user_text(name)}});
    } catch (const SystemError& error) {
      // Never fatal: the next start tries again.
      log::warn("store.staging_cleanup_incomplete",
                {{"name", escape_user_text(name)}, {"error", error.what()}});
    }
  }
}

}  // namespace agentfense::store
