#include "fs/quota_walk.h"

#include <fcntl.h>

#include <string>
#include <unordered_set>
#include <vector>

#include "common/errors.h"
#include "common/unique_fd.h"
#include "layer/safe_walk.h"

namespace agentfense::fs {
namespace {

constexpr int kDirFlags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

// One directory being listed: its entries and how far the walk got.
struct Level {
  std::vector<std::string> names;
  std::size_t next = 0;
};

}  // namespace

QuotaUsage count_upper(int upper_fd) {
  QuotaUsage usage;
  std::unordered_set<ino_t> linked;  // regular files with several names, charged once
  UniqueFd dir(::openat(upper_fd, ".", kDirFlags));
  if (!dir) throw SystemError("open upper directory", errno);
  std::vector<Level> stack;
  stack.push_back({layer::list_names(dir.get())});
  while (!stack.empty()) {
    Level& level = stack.back();
    if (level.next == level.names.size()) {
      stack.pop_back();
      // Back to the parent through "..": no path is resolved, and nothing else changes
      // upper while it is counted (mount start-up, or under the layer locks).
      if (!stack.empty()) dir = UniqueFd(::openat(dir.get(), "..", kDirFlags));
      if (!stack.empty() && !dir) throw SystemError("open upper parent directory", errno);
      continue;
    }
    const std::string& name = level.names[level.next++];
    struct stat st;
    if (::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno == ENOENT) continue;
      throw SystemError("stat upper entry " + name, errno);
    }
    usage.inodes += 1;
    if (S_ISREG(st.st_mode)) {
      if (st.st_nlink <= 1 || linked.insert(st.st_ino).second) {
        usage.bytes += WriteQuota::charge_of(static_cast<std::uint64_t>(st.st_size));
      }
      continue;
    }
    usage.bytes += WriteQuota::kEntryCharge;
    if (!S_ISDIR(st.st_mode)) continue;
    UniqueFd child(::openat(dir.get(), name.c_str(), kDirFlags));
    if (!child) throw SystemError("open upper directory " + name, errno);
    dir = std::move(child);
    stack.push_back({layer::list_names(dir.get())});  // `level` is not used after this
  }
  return usage;
}

}  // namespace agentfense::fs
