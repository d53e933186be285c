#include "server/policy_warnings.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "common/dir_stream.h"
#include "common/unique_fd.h"
#include "layer/safe_walk.h"
#include "policy/shadowed_none.h"

namespace agentfense::server {
namespace {

using policy::PathKind;

// Entries looked at before the walk stops: a pathological tree must not stall
// CreateSandbox. What was found so far is still reported.
constexpr std::size_t kWalkBudget = 1'000'000;

class Walker {
 public:
  explicit Walker(const policy::ShadowFinder& finder) : finder_(finder) {}

  // `dir_fd` is an O_PATH fd of the directory at workspace path `path`.
  void walk(int dir_fd, const std::string& path) {
    if (!finder_.may_occur_below(path)) return;
    DirStream dir(dir_fd);
    if (!dir) return;  // unreadable: skipped (best effort, see the header)
    std::vector<std::string> subdirs;
    while (const dirent* entry = dir.next()) {
      if (++seen_ > kWalkBudget) return;
      bool is_dir = entry->d_type == DT_DIR;
      if (entry->d_type == DT_UNKNOWN) {
        struct stat st {};
        is_dir = ::fstatat(dir.fd(), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                 S_ISDIR(st.st_mode);
      }
      paths_.push_back({layer::child_path(path, entry->d_name), is_dir});
      if (is_dir) subdirs.emplace_back(entry->d_name);
    }
    for (const std::string& name : subdirs) {
      UniqueFd child(
          ::openat(dir.fd(), name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (child) walk(child.get(), layer::child_path(path, name));
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
