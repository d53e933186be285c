// Host filesystem access that never follows a symlink: every lookup is an *at() call
// relative to a directory fd, one path segment at a time with O_NOFOLLOW. The base and
// the upper layer both contain symlinks chosen by the agent (or swapped in by anyone with
// access to the codebase), and the daemon must not be steered outside them.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/unique_fd.h"

namespace agentfense::layer {

// A normalized workspace path "/a/b" split into its parent ("/a") and last name ("b").
struct PathParts {
  std::string parent;
  std::string name;
};
PathParts split_path(std::string_view path);

// Splits "/a/b" into {"a", "b"}; throws on "." and ".." so a path can never climb out.
std::vector<std::string> path_segments(std::string_view path);

// "/a" + "b" -> "/a/b"; "/" + "b" -> "/b".
std::string child_path(std::string_view dir, std::string_view name);

// True when `path` equals `prefix` or lies below it ("/a/b" is under "/a", "/ab" is not).
bool is_same_or_under(std::string_view path, std::string_view prefix);

// Opens the directory at workspace path `path` beneath `root_fd` as an O_PATH fd.
// Throws SystemError (ENOENT, ENOTDIR, ELOOP...) naming the path; a symlink anywhere on
// the way fails with ENOTDIR instead of being followed.
UniqueFd open_dir_beneath(int root_fd, std::string_view path);

// Like open_dir_beneath but returns an invalid fd when the directory is absent or any
// segment is not a real directory (e.g. a symlink): "not there" from the layer's view.
UniqueFd try_open_dir_beneath(int root_fd, std::string_view path);

// open_dir_beneath for a run of paths that share their parents (a commit's changes come
// sorted by path): it starts from the deepest directory on the way that it opened
// before, so a chain of N nested directories costs N opens in all instead of N * N / 2
// (a 2,000-file change at the bottom of a 3,000-level chain took 41 s to apply, and
// statting each directory of such a chain from the root on the way back up 15 s). It
// keeps the directories along the path it opened last, the deepest 64 of them, so a
// walk back up starts nearby too; one that was removed meanwhile (a commit deletes or
// replaces base trees, and empties upper ones) has no links and is not used again. The
// trust in the tree beneath the root is the same as open_dir_beneath's (no symlink is
// ever followed). Directories are not renamed within the tree while a cursor is used (a
// commit only removes or creates them).
class DirCursor {
 public:
  explicit DirCursor(int root_fd) : root_fd_(root_fd) {}
  // An O_PATH fd of the directory at workspace path `path` (the caller's own), or what
  // open_dir_beneath / try_open_dir_beneath give when it is not there.
  UniqueFd open(std::string_view path);
  UniqueFd try_open(std::string_view path);

 private:
  static constexpr std::size_t kKept = 64;
  struct Kept {
    std::string path;
    UniqueFd fd;
  };
  const int root_fd_;
  std::deque<Kept> kept_;  // a chain, shallowest first: each entry's parent is the one before
};

// Re-opens an O_PATH directory fd for reading (listing, flock, fchmod need a real open).
UniqueFd reopen_dir(int dir_fd);

// lstat of `name` in `dir_fd`; nullopt when it does not exist.
std::optional<struct stat> stat_at(int dir_fd, const std::string& name);

// lstat of workspace path `path` beneath `root_fd`; nullopt when any part is absent or
// an intermediate segment is not a real directory.
std::optional<struct stat> stat_beneath(int root_fd, std::string_view path);

// Sorted entry names of a directory (without "." and "..").
std::vector<std::string> list_names(int dir_fd);

// Calls `visit` with the lstat of every entry below directory `dir_fd`, directories
// included (before their contents), descending into directories (never through a
// symlink). One fd per level. An entry removed or replaced while the walk runs is
// skipped, not an error.
// With `skip`, an entry whose name it accepts is not visited, nor anything below it.
void for_each_entry_below(int dir_fd, const std::function<void(const struct stat&)>& visit,
                          const std::function<bool(const std::string&)>& skip = {});

// Removes `name` in `dir_fd`; directories recursively, symlinks as links (never followed).
// An entry already gone is not an error.
void remove_tree_at(int dir_fd, const std::string& name);
// The same, checking `stop` before each entry: false when it was raised before the tree
// was gone (what is left stays, for a later call).
bool remove_tree_at(int dir_fd, const std::string& name, const std::atomic<bool>& stop);

// Removes every entry inside the directory `dir_fd`, keeping the directory itself.
void empty_dir(int dir_fd);

}  // namespace agentfense::layer
