#include "server/policy_warnings.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <memory>

#include "common/unique_fd.h"
#include "policy/shadowed_none.h"

namespace agentfense::server {
namespace {

using policy::PathKind;

// Entries looked at before the walk stops: a pathological tree must not stall
// CreateSandbox. What was found so far is still reported.
constexpr std::size_t kWalkBudget = 1'000'000;

std::string child_of(const std::string& dir, const char* name) {
  return (dir == "/" ? "" : dir) + "/" + name;
}

class Walker {
 public:
  explicit Walker(const policy::ShadowFinder& finder) : finder_(finder) {}

  // `dir_fd` is an O_PATH fd of the directory at workspace path `path`.
  void walk(int dir_fd, const std::string& path) {
    if (!finder_.may_occur_below(path)) return;
    UniqueFd readable(::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!readable) return;  // unreadable: skipped (best effort, see the header)
    std::unique_ptr<DIR, int (*)(DIR*)> dir(::fdopendir(readable.get()), &::closedir);
    if (!dir) return;
    readable.release();  // owned by `dir` now
    std::vector<std::string> subdirs;
    while (const dirent* entry = ::readdir(dir.get())) {
      const std::string_view name = entry->d_name;
      if (name == "." || name == "..") continue;
      if (++seen_ > kWalkBudget) return;
      bool is_dir = entry->d_type == DT_DIR;
      if (entry->d_type == DT_UNKNOWN) {
        struct stat st {};
        is_dir = ::fstatat(::dirfd(dir.get()), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                 S_ISDIR(st.st_mode);
      }
      paths_.push_back({child_of(path, entry->d_name), is_dir});
      if (is_dir) subdirs.emplace_back(name);
    }
    const int fd = ::dirfd(dir.get());
    for (const std::string& name : subdirs) {
      UniqueFd child(::openat(fd, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (child) walk(child.get(), child_of(path, name.c_str()));
    }
  }

  const std::vector<PathKind>& paths() const { return paths_; }

 private:
  const policy::ShadowFinder& finder_;
  std::vector<PathKind> paths_;
  std::size_t seen_ = 0;
};

}  // namespace

std::vector<std::string> policy_warnings(const policy::Policy& policy,
                                         const std::string& files_dir) {
  const policy::ShadowFinder finder(policy);
  if (!finder.possible()) return {};
  UniqueFd root(::open(files_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return {};
  Walker walker(finder);
  walker.walk(root.get(), "/");
  return policy::shadow_warnings(policy, policy::find_shadowed_none(policy, walker.paths()),
                                 kMaxPolicyWarnings);
}

}  // namespace agentfense::server
