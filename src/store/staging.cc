#include "store/staging.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

#include "common/errors.h"
#include "layer/safe_walk.h"
#include "policy/reserved_names.h"
#include "store/ids.h"

namespace agentfense::store {
namespace {

constexpr int kDirFlags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

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
    name_ = std::string(policy::kStagingPrefix) + new_id("stage_");
  }
  check_syscall(::mkdirat(parent_.get(), name_.c_str(), 0700), "mkdir staging " + name_);
  dir_ = UniqueFd(
      check_syscall(::openat(parent_.get(), name_.c_str(), kDirFlags), "open staging " + name_));
}

StagingDir::~StagingDir() {
  dir_.reset();
  try {
    layer::remove_tree_at(parent_.get(), name_);
  } catch (const std::exception&) {
    // Best effort: a destructor must not throw, and a leftover staging dir only wastes
    // space (it is never mounted or listed).
  }
}

}  // namespace agentfense::store
