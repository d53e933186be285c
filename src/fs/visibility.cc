// Whether a directory whose own level is below view is shown: only while it holds a
// visible descendant (docs/permissions.md). The answer must be exact both ways: showing
// a hidden directory with nothing visible in it reveals that it exists, and hiding one
// with a visible file deep inside hides that file. So the hidden tree is read until a
// visible entry is found, however large it is, and every directory's answer is kept
// until a name is added or removed in it or below it: each hidden directory is read once
// per change, not once per lookup.
#include <string_view>

#include "fs/filesystem.h"
#include "fs/merged_dir.h"
#include "layer/safe_walk.h"

namespace agentfense::fs {
namespace {

using policy::Level;

std::string_view parent_of(std::string_view path) {
  const std::size_t slash = path.rfind('/');
  return slash == 0 ? std::string_view("/") : path.substr(0, slash);
}

}  // namespace

bool Filesystem::visible(const std::string& path, bool is_dir, const policy::Decision& decision,
                         int base_dir, int upper_dir) {
  if (decision.level >= Level::kView) return true;
  if (!is_dir || !decision.descendants_may_be_visible) return false;
  return has_visible_descendant(base_dir, upper_dir, path);
}

bool Filesystem::has_visible_descendant(int base_dir, int upper_dir, const std::string& path) {
  std::uint64_t generation = 0;
  {
    std::lock_guard lock(visible_mu_);
    if (auto it = visible_below_.find(path); it != visible_below_.end()) return it->second;
    generation = visible_generation_;
  }
  const bool found = scan_for_visible(base_dir, upper_dir, path);
  std::lock_guard lock(visible_mu_);
  // A change during the scan may have made its answer stale: use it, do not keep it.
  if (generation == visible_generation_) visible_below_[path] = found;
  return found;
}

bool Filesystem::scan_for_visible(int base_dir, int upper_dir, const std::string& path) {
  std::vector<ListedEntry> entries;
  // Unreadable (no fd left, I/O error): nothing is known visible, so the directory is not.
  if (read_merged_dir(base_dir, upper_dir, path, *journal_, &entries) < 0) return false;
  return !empty_for_agent(base_dir, upper_dir, path, entries);
}

bool Filesystem::empty_for_agent(int base_dir, int upper_dir, const std::string& dir_path,
                                 const std::vector<ListedEntry>& entries) {
  // The listing's own test, so that a directory is empty exactly when it lists as empty.
  for (const ListedEntry& entry : entries) {
    const std::string child = layer::child_path(dir_path, entry.name);
    const bool is_dir = S_ISDIR(entry.type);
    const policy::Decision decision = access_.policy().decide(child, is_dir);
    if (decision.level >= Level::kView) return false;
    if (!is_dir || !decision.descendants_may_be_visible) continue;
    ChildDirFds fds = open_child_dirs(base_dir, upper_dir, entry.name, child, *journal_);
    if (has_visible_descendant(fds.base.get(), fds.upper.get(), child)) return false;
  }
  return true;
}

void Filesystem::changed_children(const NodeView& dir, std::string_view name) {
  table_.invalidate_listing(dir.id);
  std::lock_guard lock(visible_mu_);
  ++visible_generation_;
  // The answers of `dir` and of every directory above it may have changed ...
  for (std::string_view path = dir.path;; path = parent_of(path)) {
    visible_below_.erase(std::string(path));
    if (path == "/") break;
  }
  // ... and a different tree may now stand at `name` (or anywhere under `dir`).
  const std::string top = name.empty() ? dir.path : layer::child_path(dir.path, name);
  if (top == "/") {
    visible_below_.clear();
    return;
  }
  visible_below_.erase(top);
  // Paths strictly below `top` sort from top + "/" to just before top + "0" ('/' + 1).
  visible_below_.erase(visible_below_.lower_bound(top + "/"),
                       visible_below_.lower_bound(top + "0"));
}

}  // namespace agentfense::fs
