// How many paths one reply lists. A write layer may hold a million names (the default
// inode quota), each up to 8,191 bytes (fs/workspace_path.h): listing all of them in one
// reply could take gigabytes in the fs process's control reply, in the server, and in the
// client. Replies that list changes (ListChanges, CommitChanges, the fs process's
// "changes" and "commit" control replies behind them) carry each list's first paths, up
// to kMaxListedPathBytes of them, and count the rest. A commit still applies everything
// it selects; only its report is shortened.
#pragma once

#include <cstddef>
#include <vector>

#include "layer/changes.h"

namespace agentfense::layer {

inline constexpr std::size_t kMaxListedPathBytes = 4 << 20;

// Drops the changes past `budget` bytes of paths; returns how many were dropped.
std::size_t bound_changes(std::vector<Change>& changes, std::size_t budget = kMaxListedPathBytes);

// The same for each of a commit's lists, adding to its *_omitted counts; the reasons and
// notes of paths left out go with them.
void bound_commit_lists(CommitResult& result, std::size_t budget = kMaxListedPathBytes);

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
