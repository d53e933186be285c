// What a sandbox changed relative to its base, and the operations on those changes:
// list (for review), diff (for humans), commit (apply to the base), discard.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "layer/journal.h"

namespace agentfense::layer {

enum class ChangeKind { kAdded, kModified, kDeleted };

struct Change {
  std::string path;  // normalized workspace path "/a/b"
  ChangeKind kind;
  char type;  // 'f' file, 'd' directory, 'l' symlink, 'p' fifo (of the new entry; of the
              // base entry for kDeleted)
};

// Sorted by path (so a directory precedes its contents).
//   kAdded: in upper, and not in base or the base entry is hidden (whiteout at the path
//           or an opaque ancestor).
//   kModified: in upper and visibly in base, and type, permission bits, content or
//           symlink target differ (an identical copy-up is not a change).
//   kDeleted: hidden base entry with nothing in upper at that path; a deleted directory
//           is reported once, not its children.
// Directories present in upper only as parents of changed entries are not reported.
std::vector<Change> list_changes(int base_dirfd, const Journal& j);

// Unified diff (3 lines of context) of the given changes, git-style headers.
std::string render_diff(int base_dirfd, const Journal& j, const std::vector<Change>& changes);

using WritePermission = std::function<bool(std::string_view path, bool is_dir)>;

struct CommitResult {
  std::vector<std::string> applied, denied, conflicts;
  std::map<std::string, std::string> reasons;  // path -> why it was denied or conflicted
};

// Applies changes to the base, atomically per file, never following a symlink on the
// host. `may_write(path, is_dir)` says whether the sandbox had write on the path (is_dir
// lets directory-type rules match a directory itself); `only` empty
// = all changes, otherwise the listed paths and everything below them. Applied paths
// are removed from upper and the journal. Serialized per base by flock(LOCK_EX).
CommitResult commit(int base_dirfd, Journal& j, const WritePermission& may_write,
                    const std::vector<std::string>& only = {});

// Empties upper (no symlink is followed) and resets the journal.
void discard(Journal& j);

}  // namespace agentfense::layer
