// What a sandbox changed relative to its base, and the operations on those changes:
// list (for review), diff (for humans), commit (apply to the base), discard.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "layer/change_selection.h"
#include "layer/journal.h"
#include "layer/scope.h"

namespace agentfense::layer {

enum class ChangeKind { kAdded, kModified, kDeleted };

struct Change {
  std::string path;  // normalized workspace path "/a/b"
  ChangeKind kind;
  char type;  // 'f' file, 'd' directory, 'l' symlink, 'p' fifo (of the new entry; of the
              // base entry for kDeleted)
};

// Sorted by path (so a directory precedes its contents). Only what the sandbox can see
// (`scope`): a path at level none is never reported, whatever happened to it.
// Kinds are by path, as the commit applies them: an upper entry over a base entry the
// sandbox deleted first (a whiteout at the path, or a recreated ancestor) replaces it
// like any other upper entry does.
//   kAdded: in upper, and not in base or the base entry is a non-directory the rules
//           hide.
//   kModified: in upper and in base, and type, permission bits, content or symlink
//           target differ (an identical copy-up, or a name written back as it was, is
//           not a change).
//   kDeleted: a base entry the merged view no longer shows, with nothing in upper at
//           that path, or inside a base directory an upper non-directory replaces (its
//           commit removes them). Exactly what a commit would remove: a deleted directory is
//           reported once when nothing in it is hidden; otherwise its visible entries
//           are reported (the same way, recursively) and the directory, which keeps its
//           hidden entries, is not. A deletion that would remove nothing is not a change.
// Directories present in upper only as parents of changed entries are not reported.
// `only`: just the changes it selects (change_selection.h).
std::vector<Change> list_changes(int base_dirfd, const Journal& j, const Scope& scope,
                                 const ChangeSelection& only = {});

// Unified diff (3 lines of context) of the given changes, git-style headers (paths
// quoted as git does, see quote_path). Content is shown only where `scope` lets the
// sandbox read it, and only when it is text (valid UTF-8 without NUL bytes) of at most
// 1 MiB. Once the diff passes kMaxDiffTotalBytes, the rest of the changes are left out,
// and a last line "# diff cut after 16 MiB: N more changes not shown ..." says so: an
// agent's ten thousand 1 MiB files would otherwise make a 10 GB reply.
// `not_listed`: further changes the caller left out, counted in that line too.
// `grown` is told the diff's size so far after each change: a caller that holds a memory
// budget for it may refuse to go on by throwing (the diff is dropped).
inline constexpr std::size_t kMaxDiffTotalBytes = 16 << 20;
using DiffGrowth = std::function<void(std::size_t bytes)>;
std::string render_diff(int base_dirfd, const Journal& j, const Scope& scope,
                        const std::vector<Change>& changes, std::size_t not_listed = 0,
                        const DiffGrowth& grown = {});

struct CommitResult {
  std::vector<std::string> applied, denied, conflicts;
  std::map<std::string, std::string> reasons;  // path -> why it was denied or conflicted
  std::map<std::string, std::string> notes;    // applied path -> how it was adjusted
  // Paths of each list left out of a reply (listed_paths.h); the lists hold the others.
  std::size_t applied_omitted = 0, denied_omitted = 0, conflicts_omitted = 0;
};

// Applies changes to the base, atomically per file, never following a symlink on the
// host. Only where `scope` says the sandbox may write; hidden base entries are never
// removed or replaced (a directory holding some stays). `only`: the changes it selects
// (change_selection.h; by default all). Applied paths are removed from upper and the
// journal. Serialized per base by flock(LOCK_EX).
//
// What reaches the host is plain content: permission bits lose setuid/setgid and the
// group/other write bits the base entry did not already have (a note says so); FIFOs
// are refused, and so are symlinks whose target is absolute or resolves outside the
// codebase.
//
// `progress` (optional) is called after each change with how many of the selected
// changes are done and their total, for a progress bar on large commits.
//
// A layer holds up to a million names of up to 8 KiB paths each: the commit works in
// passes, each listing (listed_paths.h) and applying the next `pass_bytes` of paths in
// path order, so that it never holds more; its result keeps what bound_commit_lists
// keeps. The passes end in the state one pass over everything would leave
// (tests/layer/commit_passes_test.cc). Three things a report may then say differently:
// `progress`'s total is the first pass's count (the last call has done == total); a
// directory below a recreated directory, which one pass reports as added, is not
// reported by a later pass: a pass that wrote into the recreated directory turned its
// marker into per-entry whiteouts, so the directory merges with the base's, as it does
// after any commit; and the deletions listed below a base directory a file replaces are
// not reported when a pass before theirs committed the file, which removed them.
inline constexpr std::size_t kCommitPassBytes = 64 << 20;
using CommitProgress = std::function<void(std::size_t done, std::size_t total)>;
CommitResult commit(int base_dirfd, Journal& j, const Scope& scope,
                    const ChangeSelection& only = {}, const CommitProgress& progress = {},
                    std::size_t pass_bytes = kCommitPassBytes);

// Empties upper (no symlink is followed) and resets the journal.
void discard(Journal& j);

}  // namespace agentfense::layer
