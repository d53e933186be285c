#include "server/policy_warnings.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "common/dir_stream.h"
#include "common/unique_fd.h"
#include "layer/safe_walk.h"
#include "policy/shadowed_none.h"

namespace agentfense::server {
namespace {

// Entries looked at before the walk stops: a pathological tree must not stall
// CreateSandbox. What was found so far is still reported.
constexpr std::size_t kWalkBudget = 1'000'000;

class Walker {
 public:
  Walker(policy::ShadowFinder& finder, std::size_t max_steps)
      : finder_(finder), max_steps_(max_steps) {}

  // `dir_fd` is an O_PATH fd of the directory at workspace path `path`.
  void walk(int dir_fd, const std::string& path) {
    if (out_of_budget() || !finder_.may_occur_below(path)) return;
    DirStream dir(dir_fd);
    if (!dir) return;  // unreadable: skipped (best effort, see the header)
    std::vector<std::string> subdirs;
    while (const dirent* entry = dir.next()) {
      if (++seen_ > kWalkBudget || out_of_budget()) {
        cut_short_ = true;
        return;
      }
      bool is_dir = entry->d_type == DT_DIR;
      if (entry->d_type == DT_UNKNOWN) {
        struct stat st {};
        is_dir = ::fstatat(dir.fd(), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                 S_ISDIR(st.st_mode);
      }
      const std::string child = layer::child_path(path, entry->d_name);
      if (std::optional<policy::ShadowedNone> shadow = finder_.at(child, is_dir))
        shadows_.push_back(std::move(*shadow));
      if (is_dir) subdirs.emplace_back(entry->d_name);
    }
    for (const std::string& name : subdirs) {
      UniqueFd child(
          ::openat(dir.fd(), name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (child) walk(child.get(), layer::child_path(path, name));
    }
  }

  const std::vector<policy::ShadowedNone>& shadows() const { return shadows_; }
  bool cut_short() const { return cut_short_; }

 private:
  // The rule checks are bounded as well as the entries: with thousands of rules each
  // directory costs thousands of checks.
  bool out_of_budget() {
    if (finder_.steps() > max_steps_) cut_short_ = true;
    return cut_short_;
  }

  policy::ShadowFinder& finder_;
  const std::size_t max_steps_;
  std::vector<policy::ShadowedNone> shadows_;
  std::size_t seen_ = 0;
  bool cut_short_ = false;
};

}  // namespace

std::vector<std::string> policy_warnings(const policy::Policy& policy, const std::string& files_dir,
                                         std::size_t max_steps) {
  policy::ShadowFinder finder(policy);
  if (!finder.possible()) return {};
  UniqueFd root(::open(files_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return {};
  Walker walker(finder, max_steps);
  walker.walk(root.get(), "/");
  std::vector<std::string> warnings =
      policy::shadow_warnings(policy, walker.shadows(), kMaxPolicyWarnings);
  if (walker.cut_short()) {
    warnings.push_back(
        "the check for none rules overridden by rules of lower or equal priority stopped "
        "early (the rules and the codebase are too large to check whole): some may be "
        "unreported; `agentfense explain` lists every path's deciding rule");
  }
  return warnings;
}

}  // namespace agentfense::server
