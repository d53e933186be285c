#include "layer/safe_walk.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/dir_stream.h"
#include "common/errors.h"

namespace agentfense::layer {
namespace {

constexpr int kWalkFlags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

// One step down from `dir`: O_NOFOLLOW|O_DIRECTORY on a symlink yields ENOTDIR (or
// ELOOP), so it is never followed. Throws naming `path`, the whole path being opened.
int open_segment(int dir, const std::string& segment, std::string_view path) {
  return check_syscall(::openat(dir, segment.c_str(), kWalkFlags),
                       "open directory " + std::string(path));
}

// Whether a walk failed because the directory is "not there" from the layer's view:
// absent, or a segment that is not a real directory (a symlink).
bool means_absent(const SystemError& error) {
  return error.code() == ENOENT || error.code() == ENOTDIR || error.code() == ELOOP;
}

}  // namespace

std::vector<std::string> path_segments(std::string_view path) {
  std::vector<std::string> segments;
  size_t pos = 0;
  while (pos < path.size()) {
    const size_t end = std::min(path.find('/', pos), path.size());
    std::string_view segment = path.substr(pos, end - pos);
    if (segment == "." || segment == "..") {
      throw SystemError("walk " + std::string(path) + ": dot segment", EINVAL);
    }
    if (!segment.empty()) segments.emplace_back(segment);
    pos = end + 1;
  }
  return segments;
}

PathParts split_path(std::string_view path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return {"/", std::string(path)};
  std::string parent(path.substr(0, slash));
  if (parent.empty()) parent = "/";
  return {parent, std::string(path.substr(slash + 1))};
}

std::string child_path(std::string_view dir, std::string_view name) {
  std::string out(dir);
  if (out.empty() || out.back() != '/') out += '/';
  out += name;
  return out;
}

bool is_same_or_under(std::string_view path, std::string_view prefix) {
  if (prefix == "/") return true;
  if (!path.starts_with(prefix)) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

UniqueFd open_dir_beneath(int root_fd, std::string_view path) {
  UniqueFd current(check_syscall(::openat(root_fd, ".", kWalkFlags), "open layer root"));
  for (const std::string& segment : path_segments(path))
    current.reset(open_segment(current.get(), segment, path));
  return current;
}

UniqueFd try_open_dir_beneath(int root_fd, std::string_view path) {
  try {
    return open_dir_beneath(root_fd, path);
  } catch (const SystemError& e) {
    if (means_absent(e)) return UniqueFd();
    throw;
  }
}

UniqueFd DirCursor::open(std::string_view path) {
  const std::string wanted = path.empty() ? std::string("/") : std::string(path);
  // Keep the deepest kept directory that is `wanted` or an ancestor of it and still
  // linked; everything below it is another branch or gone.
  while (!kept_.empty()) {
    struct stat st {};
    const Kept& deepest = kept_.back();
    if (is_same_or_under(wanted, deepest.path) && ::fstat(deepest.fd.get(), &st) == 0 &&
        st.st_nlink > 0) {
      break;
    }
    kept_.pop_back();
  }
  int current = kept_.empty() ? root_fd_ : kept_.back().fd.get();
  std::string at = kept_.empty() ? std::string("/") : kept_.back().path;
  const std::string_view rest =
      kept_.empty() ? std::string_view(wanted) : std::string_view(wanted).substr(at.size());
  for (const std::string& segment : path_segments(rest)) {
    const int next = open_segment(current, segment, wanted);
    at = child_path(at, segment);
    kept_.push_back({at, UniqueFd(next)});
    if (kept_.size() > kKept) kept_.pop_front();
    current = kept_.back().fd.get();
  }
  return UniqueFd(check_syscall(::fcntl(current, F_DUPFD_CLOEXEC, 3), "open layer directory"));
}

UniqueFd DirCursor::try_open(std::string_view path) {
  try {
    return open(path);
  } catch (const SystemError& e) {
    if (means_absent(e)) return UniqueFd();
    throw;
  }
}

UniqueFd reopen_dir(int dir_fd) {
  return UniqueFd(
      check_syscall(::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), "reopen directory"));
}

std::optional<struct stat> stat_at(int dir_fd, const std::string& name) {
  struct stat st {};
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return st;
  if (errno == ENOENT) return std::nullopt;
  check_syscall(-1, "stat " + name);
  return std::nullopt;  // unreachable: check_syscall threw
}

std::optional<struct stat> stat_beneath(int root_fd, std::string_view path) {
  if (path == "/" || path.empty()) {
    struct stat st {};
    check_syscall(::fstat(root_fd, &st), "stat layer root");
    return st;
  }
  const PathParts parts = split_path(path);
  UniqueFd parent = try_open_dir_beneath(root_fd, parts.parent);
  if (!parent) return std::nullopt;
  return stat_at(parent.get(), parts.name);
}

std::vector<std::string> list_names(int dir_fd) {
  DirStream dir(dir_fd);
  if (!dir) throw SystemError("open directory for listing", dir.error());
  std::vector<std::string> names;
  while (const dirent* entry = dir.next()) names.emplace_back(entry->d_name);
  if (dir.error()) throw SystemError("readdir", dir.error());
  std::sort(names.begin(), names.end());
  return names;
}

bool remove_tree_at(int dir_fd, const std::string& name, const std::atomic<bool>& stop) {
  if (stop.load()) return false;
  const std::optional<struct stat> st = stat_at(dir_fd, name);
  if (!st) return true;
  if (S_ISDIR(st->st_mode)) {
    const UniqueFd child(
        ::openat(dir_fd, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!child) {
      if (errno == ENOENT) return true;
      throw SystemError("open " + name, errno);
    }
    for (const std::string& entry : list_names(child.get()))
      if (!remove_tree_at(child.get(), entry, stop)) return false;
    check_syscall(::unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR), "rmdir " + name);
  } else {
    check_syscall(::unlinkat(dir_fd, name.c_str(), 0), "unlink " + name);
  }
  return true;
}

void remove_tree_at(int dir_fd, const std::string& name) {
  static const std::atomic<bool> kNever{false};
  (void)remove_tree_at(dir_fd, name, kNever);  // never stopped: always true
}

void empty_dir(int dir_fd) {
  for (const std::string& name : list_names(dir_fd)) remove_tree_at(dir_fd, name);
}

void for_each_entry_below(int dir_fd, const std::function<void(const struct stat&)>& visit,
                          const std::function<bool(const std::string&)>& skip) {
  for (const std::string& name : list_names(dir_fd)) {
    if (skip && skip(name)) continue;
    const std::optional<struct stat> st = stat_at(dir_fd, name);
    if (!st) continue;  // gone meanwhile
    visit(*st);
    if (!S_ISDIR(st->st_mode)) continue;
    const UniqueFd child(
        ::openat(dir_fd, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!child) {
      // Removed or replaced since it was listed (a live layer changes under the walk).
      if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) continue;
      throw SystemError("open " + name, errno);
    }
    for_each_entry_below(child.get(), visit, skip);
  }
}

}  // namespace agentfense::layer
