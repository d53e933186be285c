// How many paths one reply lists. A write layer may hold a million names (the default
// inode quota), each up to 8,191 bytes (fs/workspace_path.h): listing all of them in one
// reply could take gigabytes in the fs process's control reply, in the server, and in the
// client. Replies that list changes (ListChanges, CommitChanges, the fs process's
// "changes" and "commit" control replies behind them) carry each list's first paths, up
// to kMaxListedPathBytes of them, and count the rest. A commit still applies everything
// it selects; only its report is shortened.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "layer/changes.h"

namespace agentfense::layer {

inline constexpr std::size_t kMaxListedPathBytes = 4 << 20;

// list_changes (changes.h) as a reply lists it: the first `budget` bytes of paths in path
// order, holding no more than that while it walks; `omitted` gets how many more there are.
std::vector<Change> list_first_changes(int base_dirfd, const Journal& j, const Scope& scope,
                                       std::size_t* omitted, const ChangeSelection& only = {},
                                       std::size_t budget = kMaxListedPathBytes);

// One pass of a commit over a layer too large to hold whole: list_first_changes of the
// changes sorting after `after` (all when unset). Unless `exact`, a file past what the
// reply keeps is counted as changed without comparing contents, so that `*omitted` says
// only whether there may be more: later passes need no exact count.
std::vector<Change> list_changes_after(int base_dirfd, const Journal& j, const Scope& scope,
                                       const ChangeSelection& only,
                                       const std::optional<std::string>& after, std::size_t budget,
                                       bool exact, std::size_t* omitted);

// render_diff (changes.h) of the selected changes, walking no more of the layer than the
// cut diff can show: each change's diff names its path at least twice, so the changes
// past the first kMaxDiffTotalBytes / 2 of paths are never shown.
// `grown` as render_diff's, told at the end of the diff and its terminal-safe copy too.
std::string diff_first_changes(int base_dirfd, const Journal& j, const Scope& scope,
                               const ChangeSelection& only = {}, const DiffGrowth& grown = {});

// Drops the changes past `budget` bytes of paths; returns how many were dropped.
std::size_t bound_changes(std::vector<Change>& changes, std::size_t budget = kMaxListedPathBytes);

// Collects changes arriving in any order and keeps what bound_changes would keep of them
// sorted, holding no more than that meanwhile: the changes below a cut, the smallest
// path that did not fit. A listing then costs the budget, not the write layer's size.
class FirstChanges {
 public:
  explicit FirstChanges(std::size_t budget = kMaxListedPathBytes) : budget_(budget) {}
  void add(Change change);
  std::size_t omitted() const { return omitted_; }
  // Whether a change at `path` would be omitted now (the cut only moves down).
  bool omits(const std::string& path) const { return cut_ && path >= *cut_; }
  std::vector<Change> take();  // sorted by path

 private:
  struct ByPath {
    bool operator()(const Change& a, const Change& b) const { return a.path < b.path; }
  };
  std::size_t budget_;
  std::vector<Change> heap_;  // a max-heap by path
  std::size_t bytes_ = 0;
  std::size_t omitted_ = 0;
  std::optional<std::string> cut_;  // every path at or past it is omitted
};

// The same for each of a commit's lists, adding to its *_omitted counts; the reasons and
// notes of paths left out go with them.
void bound_commit_lists(CommitResult& result, std::size_t budget = kMaxListedPathBytes);

// Adds one pass's result to a commit's, keeping each list what bound_commit_lists would
// keep of the two together: once a list has left a path out, it takes no more.
void append_bounded(CommitResult& into, CommitResult&& pass,
                    std::size_t budget = kMaxListedPathBytes);

// A walk that lists entries as it goes (ListFiles, ListSandboxFiles with `recursive`):
// it stops at kMaxListedEntries entries or kMaxListedPathBytes of paths, and its reply
// says it was cut (`truncated`). A tree of a million files listed whole took the server
// gigabytes, for a reply gRPC then refused to send.
inline constexpr std::size_t kMaxListedEntries = 100000;

class ListingBudget {
 public:
  // True when one more entry with a path of `path_bytes` fits; once one does not, the
  // budget is spent and every later call says no.
  bool take(std::size_t path_bytes) {
    if (spent_ || entries_ == kMaxListedEntries || bytes_ + path_bytes > kMaxListedPathBytes) {
      spent_ = true;
      return false;
    }
    ++entries_;
    bytes_ += path_bytes;
    return true;
  }
  bool spent() const { return spent_; }

 private:
  std::size_t entries_ = 0;
  std::size_t bytes_ = 0;
  bool spent_ = false;
};

}  // namespace agentfense::layer
