// list_changes: one walk over upper, carrying the matching base directory alongside, plus
// the whiteouts that delete base entries without any upper counterpart. Every reported
// path goes through the sandbox's scope: what it cannot see is never reported.
#include "layer/changes.h"

#include <fcntl.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <optional>
#include <set>

#include "common/errors.h"
#include "common/text_safety.h"
#include "layer/entry_io.h"
#include "layer/listed_paths.h"
#include "layer/safe_walk.h"
#include "layer/stored_names.h"

namespace agentfense::layer {
namespace {

// Which part of the layer a walk reports. A commit works through a large layer in
// passes, each taking the changes after the last one's.
struct Window {
  // Report only paths sorting after this one; subtrees sorting wholly at or before it
  // are not walked.
  std::optional<std::string> after;
  // True for a path whose change the caller will only count, never keep: a file there is
  // reported as modified without comparing its content with the base's.
  std::function<bool(const std::string&)> only_counted;

  bool reports(const std::string& path) const { return !after || path > *after; }
  // Whether anything at or under `path` sorts after `after`. The subtree's paths all
  // start with `path` + "/", and '/' is not the smallest byte ("/a-b" sorts between "/a"
  // and "/a/x"), so it is skipped only when `after` sorts past every such path.
  bool reaches_into(const std::string& path, bool is_dir) const {
    if (reports(path)) return true;
    if (!is_dir) return false;
    const std::string prefix = path == "/" ? path : path + "/";
    return *after < prefix || after->starts_with(prefix);
  }
};

// Hands every change in `window` to `emit`, in no particular order.
class ChangeLister {
 public:
  using Emit = std::function<void(Change)>;
  ChangeLister(int base_fd, const Journal& j, const Scope& scope, Emit emit, Window window = {})
      : base_fd_(base_fd),
        journal_(j),
        scope_(scope),
        whiteouts_(j.whiteouts()),
        opaques_(j.opaques()),
        emit_(std::move(emit)),
        window_(std::move(window)) {}

  void run() {
    UniqueFd base_root = open_dir_beneath(base_fd_, "/");
    walk_upper(journal_.upper_fd(), "/", base_root.get(), is_marked("/"));
    add_whiteout_deletions();
  }

 private:
  bool is_marked(const std::string& path) const {
    return std::binary_search(whiteouts_.begin(), whiteouts_.end(), path) ||
           std::binary_search(opaques_.begin(), opaques_.end(), path);
  }

  // `base_dir` is the base directory at `path` (or -1); `hides_base` says its children
  // are hidden from the merged view (opaque, whited out, or an ancestor was).
  void walk_upper(int upper_dir, const std::string& path, int base_dir, bool hides_base) {
    const std::vector<std::string> upper_names = list_names(upper_dir);
    // A base entry an upper name finds under another spelling (a folded letter case:
    // stored_names.h) is not the one at this path: the upper entry is new, and its diff
    // must not show the other one (which the rules may hide). Commit refuses it.
    std::optional<StoredNames> base_names;
    if (base_dir >= 0 && !upper_names.empty()) base_names.emplace(base_dir);
    for (const std::string& name : upper_names) {
      const std::string child = child_path(path, name);
      const std::optional<struct stat> upper_st = stat_at(upper_dir, name);
      if (!upper_st) continue;  // removed concurrently
      const char type = type_char(upper_st->st_mode);
      const std::optional<struct stat> base_st =
          base_names && base_names->admits(name) ? stat_at(base_dir, name) : std::nullopt;
      const bool base_is_dir = base_st && S_ISDIR(base_st->st_mode);
      // A non-directory over a base directory replaces that directory and all it holds.
      const bool replaces_base_dir = type != 'd' && base_is_dir;
      if (type == 0 || !window_.reaches_into(child, type == 'd' || replaces_base_dir)) continue;
      // A base entry the rules hide was never in the sandbox's view: an upper entry there
      // (a directory made under a directory-only rule, or one the base grew later) is new
      // to it, and its diff must not show the hidden one.
      const bool seen_in_base = base_st && !scope_.hidden(child, base_is_dir);
      // A name re-created under a recreated directory, or over its own whiteout, replaces
      // the base entry there as any upper entry does: the review, by path as the commit
      // applies it, compares the two (no change when equal). The marker says only that
      // the base entries below are hidden.
      const bool marked =
          hides_base || std::binary_search(whiteouts_.begin(), whiteouts_.end(), child);
      std::optional<ChangeKind> kind;
      if (!seen_in_base) {
        kind = ChangeKind::kAdded;
      } else if (window_.only_counted && window_.only_counted(child)) {
        kind = ChangeKind::kModified;  // counted, never kept: no need to compare
      } else if (differs(*base_st, base_dir, *upper_st, upper_dir, name)) {
        kind = ChangeKind::kModified;
      }
      // A hidden directory above visible entries is not the sandbox's to report.
      if (kind && window_.reports(child) && !scope_.hidden(child, type == 'd'))
        emit_({child, *kind, type});
      if (replaces_base_dir) report_replaced_base_dir(base_dir, name, child);
      if (type != 'd') continue;
      UniqueFd upper_child(check_open_dir(upper_dir, name));
      UniqueFd base_child;
      if (base_is_dir) base_child = UniqueFd(check_open_dir(base_dir, name));
      // (Whether the rules hide base entries below is for each of them to say.)
      walk_upper(upper_child.get(), child, base_child.valid() ? base_child.get() : -1,
                 marked || !base_st || is_marked(child));
    }
    if (hides_base && base_dir >= 0) report_shadowed_base_children(base_dir, path, upper_names);
  }

  // Base directory `name` in `base_dir` (at `path`), which an upper non-directory
  // replaces: committing that entry removes the whole directory, so everything the
  // sandbox could see in it is listed as deleted, whatever whiteouts are left below it
  // (a rename onto the name drops them, a recreated parent's marker covers them).
  void report_replaced_base_dir(int base_dir, const std::string& name, const std::string& path) {
    replaced_base_dirs_.insert(path);
    if (scope_.hidden(path, true)) return;
    UniqueFd dir(check_open_dir(base_dir, name));
    for (const std::string& child : list_names(dir.get()))
      emit_deleted(dir.get(), child, child_path(path, child));
  }

  void report_shadowed_base_children(int base_dir, const std::string& path,
                                     const std::vector<std::string>& upper_names) {
    for (const std::string& name : list_names(base_dir)) {
      if (std::binary_search(upper_names.begin(), upper_names.end(), name)) continue;
      emit_deleted(base_dir, name, child_path(path, name));
    }
  }

  void emit_deleted(int parent, const std::string& name, const std::string& path) {
    if (!window_.reaches_into(path, true)) return;
    std::vector<Change> deleted;
    collect_deleted(parent, name, path, deleted);
    for (Change& change : deleted) {
      if (window_.reports(change.path)) emit_(std::move(change));
    }
  }

  // The deletions that removing base entry `path` (`name` in `parent`) means for what the
  // sandbox can see: the entry itself when nothing in it is hidden, else its visible
  // parts. Returns false when the entry is, or holds, something hidden (it stays).
  bool collect_deleted(int parent, const std::string& name, const std::string& path,
                       std::vector<Change>& out) const {
    const std::optional<struct stat> st = stat_at(parent, name);
    if (!st) return true;  // removed concurrently
    const char type = type_char(st->st_mode);
    if (scope_.hidden(path, type == 'd')) return false;
    if (type != 'd') {
      if (type != 0) out.push_back({path, ChangeKind::kDeleted, type});
      return true;
    }
    UniqueFd dir(check_open_dir(parent, name));
    std::vector<Change> parts;
    bool whole = true;
    for (const std::string& child : list_names(dir.get()))
      whole = collect_deleted(dir.get(), child, child_path(path, child), parts) && whole;
    if (whole) {
      out.push_back({path, ChangeKind::kDeleted, 'd'});
    } else {
      out.insert(out.end(), parts.begin(), parts.end());
    }
    return whole;
  }

  // Whiteouts whose nearest marked ancestor is none: deletions the upper walk did not
  // see. A marked ancestor either is itself a deletion (reported once, for the whole
  // directory) or is a recreated directory whose hidden base children were reported.
  void add_whiteout_deletions() {
    for (const std::string& path : whiteouts_) {
      if (path == "/" || has_marked_ancestor(path) || in_replaced_base_dir(path)) continue;
      if (stat_beneath(journal_.upper_fd(), path)) continue;  // upper wins: not a delete
      const PathParts parts = split_path(path);
      UniqueFd base_parent = try_open_dir_beneath(base_fd_, parts.parent);
      if (base_parent) emit_deleted(base_parent.get(), parts.name, path);
    }
  }

  // Below a base directory an upper non-directory replaces: walk_upper listed it.
  bool in_replaced_base_dir(const std::string& path) const {
    if (replaced_base_dirs_.empty()) return false;  // the usual case: no walk up
    for (std::string parent = split_path(path).parent; parent != "/";
         parent = split_path(parent).parent) {
      if (replaced_base_dirs_.contains(parent)) return true;
    }
    return false;
  }

  bool has_marked_ancestor(const std::string& path) const {
    for (std::string parent = split_path(path).parent;; parent = split_path(parent).parent) {
      if (is_marked(parent)) return true;
      if (parent == "/") return false;
    }
  }

  static bool differs(const struct stat& base, int base_dir, const struct stat& upper,
                      int upper_dir, const std::string& name) {
    if ((base.st_mode & S_IFMT) != (upper.st_mode & S_IFMT)) return true;
    if ((base.st_mode & 07777) != (upper.st_mode & 07777) && !S_ISLNK(upper.st_mode)) return true;
    if (S_ISLNK(upper.st_mode))
      return read_link_at(base_dir, name) != read_link_at(upper_dir, name);
    if (S_ISREG(upper.st_mode)) {
      return base.st_size != upper.st_size || !same_content(base_dir, name, upper_dir, name);
    }
    return false;
  }

  static int check_open_dir(int dir_fd, const std::string& name) {
    return static_cast<int>(
        check_syscall(::openat(dir_fd, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC),
                      "open " + name));
  }

  const int base_fd_;
  const Journal& journal_;
  const Scope& scope_;
  const std::vector<std::string> whiteouts_;
  const std::vector<std::string> opaques_;
  const Emit emit_;
  const Window window_;
  std::set<std::string> replaced_base_dirs_;  // by walk_upper, for add_whiteout_deletions
};

}  // namespace

std::vector<Change> list_changes(int base_dirfd, const Journal& j, const Scope& scope,
                                 const ChangeSelection& only) {
  std::size_t omitted = 0;  // none: the budget holds any layer
  return list_first_changes(base_dirfd, j, scope, &omitted, only,
                            std::numeric_limits<std::size_t>::max());
}

std::vector<Change> list_first_changes(int base_dirfd, const Journal& j, const Scope& scope,
                                       std::size_t* omitted, const ChangeSelection& only,
                                       std::size_t budget) {
  return list_changes_after(base_dirfd, j, scope, only, std::nullopt, budget, /*exact=*/true,
                            omitted);
}

std::vector<Change> list_changes_after(int base_dirfd, const Journal& j, const Scope& scope,
                                       const ChangeSelection& only,
                                       const std::optional<std::string>& after, std::size_t budget,
                                       bool exact, std::size_t* omitted) {
  FirstChanges first(budget);
  Window window{after, {}};
  if (!exact) window.only_counted = [&](const std::string& path) { return first.omits(path); };
  ChangeLister(
      base_dirfd, j, scope,
      [&](Change change) {
        if (only.selects(change.path)) first.add(std::move(change));
      },
      std::move(window))
      .run();
  *omitted = first.omitted();
  return first.take();
}

std::string diff_first_changes(int base_dirfd, const Journal& j, const Scope& scope,
                               const ChangeSelection& only, const DiffGrowth& grown) {
  std::size_t not_listed = 0;
  const std::vector<Change> changes =
      list_first_changes(base_dirfd, j, scope, &not_listed, only, kMaxDiffTotalBytes / 2);
  // People read this diff through the SDK, REST and their terminals: content that could
  // move the cursor, recolour, hide or reorder text is shown escaped (\x1b, \r, \u202e),
  // as the CLI shows its review. A line "+rm -rf ~ <ESC>[2K<CR># comment" displayed as
  // the comment alone while a review token committed all of it.
  const std::string diff = render_diff(base_dirfd, j, scope, changes, not_listed, grown);
  if (grown) grown(2 * diff.size());  // and its terminal-safe copy, about as large
  return terminal_safe(diff);
}

}  // namespace agentfense::layer
