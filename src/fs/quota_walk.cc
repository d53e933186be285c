#include "fs/quota_walk.h"

#include <dirent.h>
#include <fcntl.h>

#include <string>
#include <unordered_set>
#include <vector>

#include "common/errors.h"
#include "common/unique_fd.h"

namespace agentfense::fs {
namespace {

constexpr int kDirFlags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

std::vector<std::string> names_in(int dir_fd) {
  UniqueFd readable(::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!readable) throw SystemError("open upper directory for counting", errno);
  DIR* dir = ::fdopendir(readable.get());
  if (!dir) throw SystemError("fdopendir", errno);
  (void)readable.release();  // owned by `dir` now
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  const int error = errno;
  (void)::closedir(dir);  // a read-only directory stream: nothing to flush
  if (error) throw SystemError("readdir upper directory", error);
  return names;
}

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
  stack.push_back({names_in(dir.get())});
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
    stack.push_back({names_in(dir.get())});  // `level` is not used after this
  }
  return usage;
}

}  // namespace agentfense::fs
