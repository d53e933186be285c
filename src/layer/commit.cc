// commit: apply a sandbox's changes to its base, file by file, under the rules of
// DESIGN.md "Layers": write permission, conflict detection, no symlink following.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "common/errors.h"
#include "layer/changes.h"
#include "layer/entry_io.h"
#include "layer/file_install.h"
#include "layer/safe_walk.h"

namespace agentfense::layer {
namespace {

// A change that must not be applied; `conflict` distinguishes "the base moved on" from
// "not allowed / not possible".
struct Refusal {
  bool conflict;
  std::string reason;
};

// flock(LOCK_EX) on the base directory for the whole commit: commits to one codebase
// are serialized even across processes.
class BaseLock {
 public:
  explicit BaseLock(int base_dirfd) : fd_(reopen_dir(base_dirfd)) {
    check_syscall(::flock(fd_.get(), LOCK_EX), "lock base");
  }

 private:
  UniqueFd fd_;  // closing it releases the lock
};

class Committer {
 public:
  Committer(int base_fd, Journal& j, const WritePermission& may_write)
      : base_fd_(base_fd), journal_(j), may_write_(may_write) {}

  // Returns nullopt when applied.
  std::optional<Refusal> apply(const Change& change) {
    if (!may_write_(change.path, change.type == 'd')) return Refusal{false, "no write permission"};
    const PathParts parts = split_path(change.path);
    try {
      if (change.kind == ChangeKind::kDeleted) return apply_delete(change.path, parts);
      UniqueFd base_parent = ensure_base_parent(parts.parent);
      if (!base_parent) return Refusal{false, "no write permission on a missing parent"};
      if (auto conflict = check_conflict(change, base_parent.get(), parts.name)) return conflict;
      // A directory over a base directory merges; anything else over one replaces it.
      if (change.type != 'd') {
        if (auto refusal = check_replaced_tree(base_parent.get(), parts.name, change.path)) {
          return refusal;
        }
      }
      UniqueFd upper_parent = open_dir_beneath(journal_.upper_fd(), parts.parent);
      install_entry(upper_parent.get(), base_parent.get(), parts.name);
      if (change.type != 'd') {
        if (::unlinkat(upper_parent.get(), parts.name.c_str(), 0) < 0 && errno != ENOENT) {
          check_syscall(-1, "remove committed upper entry " + change.path);
        }
        journal_.remove_marker(change.path);
      }
      journal_.forget_copy_up(change.path);
      return std::nullopt;
    } catch (const SystemError& e) {
      return Refusal{false, e.what()};
    }
  }

 private:
  std::optional<Refusal> apply_delete(const std::string& path, const PathParts& parts) {
    UniqueFd base_parent = try_open_dir_beneath(base_fd_, parts.parent);
    // A symlink where a directory should be is refused, never followed.
    if (!base_parent) {
      if (stat_beneath(base_fd_, parts.parent)) {
        return Refusal{false, "base parent is not a directory"};
      }
    } else {
      const std::optional<struct stat> st = stat_at(base_parent.get(), parts.name);
      if (const auto record = journal_.copy_up_record(path);
          record && record->origin == path && (!st || !(stamp_of(*st) == record->stamp))) {
        return Refusal{true, "base changed since the sandbox read it"};
      }
      if (auto refusal = check_replaced_tree(base_parent.get(), parts.name, path)) return refusal;
      remove_tree_at(base_parent.get(), parts.name);
    }
    journal_.remove_marker(path);
    journal_.forget_copy_up(path);
    return std::nullopt;
  }

  // Base directory at `path`, creating missing directories (like `mkdir -p`, with the
  // upper directory's mode) where the sandbox may write; invalid fd if it may not.
  UniqueFd ensure_base_parent(const std::string& path) {
    UniqueFd current = open_dir_beneath(base_fd_, "/");
    std::string walked = "/";
    for (const std::string& segment : path_segments(path)) {
      walked = child_path(walked, segment);
      int next =
          ::openat(current.get(), segment.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (next < 0 && errno == ENOENT) {
        if (!may_write_(walked, true)) return UniqueFd();
        const std::optional<struct stat> upper_st = stat_beneath(journal_.upper_fd(), walked);
        check_syscall(::mkdirat(current.get(), segment.c_str(), 0700), "mkdir " + walked);
        set_dir_mode(current.get(), segment, upper_st ? upper_st->st_mode : 0755);
        next =
            ::openat(current.get(), segment.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      }
      current.reset(static_cast<int>(check_syscall(next, "open base directory " + walked)));
    }
    return current;
  }

  // True when the merged view did not show the base entry at `path` (so the sandbox
  // deliberately replaced whatever was there).
  bool base_hidden(const std::string& path) const {
    if (journal_.is_whiteout(path)) return true;
    for (std::string parent = split_path(path).parent;; parent = split_path(parent).parent) {
      if (journal_.is_whiteout(parent) || journal_.is_opaque(parent)) return true;
      if (parent == "/") return false;
    }
  }

  std::optional<Refusal> check_conflict(const Change& change, int base_parent,
                                        const std::string& name) const {
    const std::optional<struct stat> base_now = stat_at(base_parent, name);
    if (change.type == 'd') {
      // Directories merge, there is no content to lose; but an upper directory over a
      // visible base non-directory means the base was swapped (e.g. for a symlink) after
      // the sandbox saw a directory there.
      if (base_now && !S_ISDIR(base_now->st_mode) && !base_hidden(change.path)) {
        return Refusal{true, "base directory was replaced since the sandbox read it"};
      }
      return std::nullopt;
    }
    const std::optional<CopyUpRecord> record = journal_.copy_up_record(change.path);
    if (record && record->origin == change.path) {
      if (!base_now || !(stamp_of(*base_now) == record->stamp)) {
        return Refusal{true, "base changed since the sandbox read it"};
      }
    } else if (record) {
      // Moved here by a rename: the content derives from the base file at the origin.
      // A missing origin is fine (this commit may have just applied its deletion).
      const std::optional<struct stat> origin = stat_beneath(base_fd_, record->origin);
      if (origin && !(stamp_of(*origin) == record->stamp)) {
        return Refusal{true, "base " + record->origin + " changed since the sandbox read it"};
      }
    } else if (base_now && !base_hidden(change.path) && !journal_.was_replaced(change.path)) {
      return Refusal{true, "created in the sandbox but now also exists in base"};
    }
    return std::nullopt;
  }

  // Removing or replacing a base directory deletes its whole tree: every path in it
  // must be writable, hidden ones included.
  std::optional<Refusal> check_replaced_tree(int base_parent, const std::string& name,
                                             const std::string& path) const {
    const std::optional<struct stat> st = stat_at(base_parent, name);
    if (!st || !S_ISDIR(st->st_mode)) return std::nullopt;
    UniqueFd dir(check_syscall(
        ::openat(base_parent, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC),
        "open " + path));
    for (const std::string& child : list_names(dir.get())) {
      const std::string child_full = child_path(path, child);
      const std::optional<struct stat> child_st = stat_at(dir.get(), child);
      if (!may_write_(child_full, child_st && S_ISDIR(child_st->st_mode)))
        return Refusal{false, "no write permission on " + child_full};
      if (auto refusal = check_replaced_tree(dir.get(), child, child_full)) return refusal;
    }
    return std::nullopt;
  }

  const int base_fd_;
  Journal& journal_;
  const WritePermission& may_write_;
};

bool selected(const std::string& path, const std::vector<std::string>& only) {
  return only.empty() || std::any_of(only.begin(), only.end(), [&](const std::string& o) {
           return is_same_or_under(path, o);
         });
}

// Replaces the marker on a recreated directory `path` by explicit whiteouts for the base
// entries it still has to hide. Entries this commit just wrote into the base (and removed
// from upper) must become visible instead of looking deleted, which a blanket opaque
// marker cannot express.
void expand_marker(int base_fd, Journal& j, const std::string& path,
                   const std::set<std::string>& applied) {
  UniqueFd base_dir = try_open_dir_beneath(base_fd, path);
  UniqueFd upper_dir = try_open_dir_beneath(j.upper_fd(), path);
  if (!base_dir || !upper_dir) return;
  for (const std::string& name : list_names(base_dir.get())) {
    const std::string child = child_path(path, name);
    if (j.is_whiteout(child) || j.is_opaque(child)) continue;  // hides on its own
    const std::optional<struct stat> upper = stat_at(upper_dir.get(), name);
    const std::optional<struct stat> base = stat_at(base_dir.get(), name);
    if (!upper) {
      if (!applied.contains(child)) j.add_whiteout(child);
    } else if (S_ISDIR(upper->st_mode) && base && S_ISDIR(base->st_mode)) {
      expand_marker(base_fd, j, child, applied);  // it inherited the hiding
    } else {
      j.add_whiteout(child);  // replaced, not edited: keep that for conflict detection
    }
  }
  j.remove_marker(path);
}

// Brings the markers in line with the new base: drops those that hide nothing and
// expands those over directories this commit wrote into.
void prune_markers(int base_fd, Journal& j, const std::vector<std::string>& applied_paths) {
  const std::set<std::string> applied(applied_paths.begin(), applied_paths.end());
  std::vector<std::string> markers = j.whiteouts();
  const std::vector<std::string> opaques = j.opaques();
  markers.insert(markers.end(), opaques.begin(), opaques.end());
  std::sort(markers.begin(), markers.end());
  for (const std::string& marker : markers) {
    if (!j.is_whiteout(marker) && !j.is_opaque(marker)) continue;  // expanded already
    const std::optional<struct stat> base = stat_beneath(base_fd, marker);
    if (!base) {
      j.remove_marker(marker);
      continue;
    }
    const std::optional<struct stat> upper = stat_beneath(j.upper_fd(), marker);
    const bool wrote_there = std::any_of(
        applied.begin(), applied.end(), [&](const auto& p) { return is_same_or_under(p, marker); });
    if (upper && S_ISDIR(upper->st_mode) && S_ISDIR(base->st_mode) && wrote_there) {
      expand_marker(base_fd, j, marker, applied);
    }
  }
}

// Upper directories left empty by the commit and identical to base carry no change.
void remove_empty_upper_dirs(int base_fd, Journal& j, std::vector<std::string> paths) {
  std::sort(paths.rbegin(), paths.rend());  // children before parents
  for (const std::string& path : paths) {
    for (std::string dir = path; dir != "/"; dir = split_path(dir).parent) {
      const std::optional<struct stat> upper = stat_beneath(j.upper_fd(), dir);
      const std::optional<struct stat> base = stat_beneath(base_fd, dir);
      if (!upper || !S_ISDIR(upper->st_mode) || !base || !S_ISDIR(base->st_mode)) continue;
      if ((upper->st_mode & 07777) != (base->st_mode & 07777)) break;
      if (j.is_whiteout(dir) || j.is_opaque(dir)) break;
      const PathParts parts = split_path(dir);
      UniqueFd parent = try_open_dir_beneath(j.upper_fd(), parts.parent);
      // ENOTEMPTY simply means the directory still holds uncommitted changes.
      if (!parent || ::unlinkat(parent.get(), parts.name.c_str(), AT_REMOVEDIR) < 0) break;
    }
  }
}

}  // namespace

CommitResult commit(int base_dirfd, Journal& j, const WritePermission& may_write,
                    const std::vector<std::string>& only) {
  BaseLock lock(base_dirfd);
  CommitResult result;
  Committer committer(base_dirfd, j, may_write);
  for (const Change& change : list_changes(base_dirfd, j)) {
    if (!selected(change.path, only)) continue;
    if (std::optional<Refusal> refusal = committer.apply(change)) {
      (refusal->conflict ? result.conflicts : result.denied).push_back(change.path);
      result.reasons[change.path] = refusal->reason;
    } else {
      result.applied.push_back(change.path);
    }
  }
  prune_markers(base_dirfd, j, result.applied);
  remove_empty_upper_dirs(base_dirfd, j, result.applied);
  return result;
}

}  // namespace agentfense::layer
