#include "fs/prewarm_walk.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "common/dir_stream.h"
#include "common/unique_fd.h"

namespace agentfense::fs {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kGitignore = ".gitignore";

// Opens `relative` below `root` without following any symlink and without leaving the
// tree: the walk runs on the host, so a name the agent swapped for a symlink meanwhile
// must not lead it anywhere else. -1 on any failure.
int open_beneath(int root, const std::string& relative, std::uint64_t flags) {
  open_how how{};
  how.flags = flags | O_NOFOLLOW | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(::syscall(SYS_openat2, root, relative.c_str(), &how, sizeof how));
}

std::string child_of(const std::string& dir, const char* name) {
  return dir == "." ? std::string(name) : dir + "/" + name;
}

// A file found by the listing phase, read in the second one.
struct SmallFile {
  std::string path;  // relative to the root
  std::uint64_t size;
};

class Walk {
 public:
  Walk(int root, const PrewarmBudget& budget)
      : root_(root), budget_(budget), deadline_(Clock::now() + budget.max_time) {}

  PrewarmTotals run() {
    struct stat git {};
    git_work_tree_ = ::fstatat(root_, ".git", &git, AT_SYMLINK_NOFOLLOW) == 0;
    dirs_.push_back(".");
    // Breadth first: the names an agent reaches first (the top levels) are warm first.
    for (std::size_t next = 0; next < dirs_.size(); ++next) {
      if (over_budget()) return totals_;
      list(dirs_[next]);  // by value: listing appends to dirs_
    }
    // Once more: the kernel keeps some listings only from their second reading (measured
    // on the bench tree: after one full `find`, the next sent 423 of its 5,033 READDIRs
    // again, the one after none), and an agent's first command would pay for those.
    for (const std::string& path : dirs_) {
      if (over_budget()) return totals_;
      relist(path);
    }
    for (const SmallFile& file : files_) {
      if (over_budget() || totals_.bytes_read + file.size > budget_.max_total_bytes) return totals_;
      read_whole(file.path);
    }
    totals_.complete = true;
    return totals_;
  }

 private:
  bool over_budget() const {
    return totals_.entries >= budget_.max_entries || Clock::now() >= deadline_;
  }

  DirStream open_listing(const std::string& path) const {
    return DirStream::adopt(UniqueFd(open_beneath(root_, path, O_RDONLY | O_DIRECTORY)));
  }

  // Reads a listing again for the kernel's cache, looking at nothing in it.
  void relist(const std::string& path) const {
    DirStream dir = open_listing(path);
    while (dir && dir.next()) {
    }
  }

  void list(std::string path) {
    DirStream dir = open_listing(path);
    if (!dir) return;  // removed or not listable meanwhile
    const int fd = dir.fd();
    ++totals_.directories;
    bool has_gitignore = false;
    while (const dirent* entry = dir.next()) {
      if (++totals_.entries >= budget_.max_entries) return;
      if (std::strcmp(entry->d_name, kGitignore) == 0) has_gitignore = true;
      // READDIRPLUS gave the kernel these attributes: no request.
      struct stat st {};
      if (::fstatat(fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
      if (S_ISDIR(st.st_mode)) {
        // Only directories the caller may enter and list, as the agent would.
        if (::faccessat(fd, entry->d_name, R_OK | X_OK, AT_EACCESS) == 0)
          dirs_.push_back(child_of(path, entry->d_name));
      } else if (S_ISREG(st.st_mode) && st.st_size > 0 &&
                 static_cast<std::uint64_t>(st.st_size) <= budget_.max_file_bytes &&
                 ::faccessat(fd, entry->d_name, R_OK, AT_EACCESS) == 0) {
        files_.push_back({child_of(path, entry->d_name), static_cast<std::uint64_t>(st.st_size)});
      }
    }
    // git status opens .gitignore in every directory it scans for untracked files: where
    // there is none, the kernel would ask the fs each time (1,055 of the 1,076 requests of
    // a first `git status` after the walk over a 20,000-file tree). Asking now leaves it a
    // negative entry, as the agent's own lookup would.
    if (git_work_tree_ && !has_gitignore) {
      struct stat absent {};
      (void)::fstatat(fd, kGitignore, &absent, AT_SYMLINK_NOFOLLOW);  // ENOENT expected
    }
  }

  void read_whole(const std::string& path) {
    const UniqueFd fd(open_beneath(root_, path, O_RDONLY));
    if (!fd) return;
    char buffer[64 * 1024];
    for (;;) {
      const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
      if (n <= 0) break;  // the end, or an error: either way this file is done
      totals_.bytes_read += static_cast<std::uint64_t>(n);
    }
    // A READ that reached the daemon made the kernel drop the file's atime
    // (fuse_invalidate_atime), so the agent's first stat, fstat or lstat of it would be
    // a GETATTR round trip: 3,008 on the first `git status` of a 3,000-file checkout
    // after the walk. Fetch the attributes now, at idle priority. No request when the
    // kernel still holds them (a file the prefetcher pushed was never READ).
    struct stat st {};
    (void)::fstat(fd.get(), &st);
    ++totals_.files_read;
  }

  const int root_;
  const PrewarmBudget budget_;
  const Clock::time_point deadline_;
  std::vector<std::string> dirs_;  // relative paths, in the order they are listed
  std::vector<SmallFile> files_;
  PrewarmTotals totals_;
  bool git_work_tree_ = false;  // the root holds .git
};

}  // namespace

PrewarmTotals prewarm_walk(int root_fd, const PrewarmBudget& budget) {
  return Walk(root_fd, budget).run();
}

}  // namespace agentfense::fs
