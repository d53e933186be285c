// The per-sandbox layer bookkeeping that cannot be expressed as files in STATE/upper:
// whiteouts, opaque directories and copy-up stamps. See src/layer/README.md for the
// on-disk layout. Whiteouts live only here (never as files in upper) so the agent cannot
// forge layer bookkeeping by creating a specially named file.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/unique_fd.h"

namespace agentfense::layer {

// Identity of a base file when it was first copied up; a different identity at commit
// time means the base changed underneath the sandbox (conflict).
struct BaseStamp {
  ino_t ino;
  off_t size;
  int64_t mtime_ns;
};

bool operator==(const BaseStamp& a, const BaseStamp& b);

// What the sandbox saw of the base at a path: a version, or (nullopt) no entry there.
struct SeenBase {
  std::optional<BaseStamp> version;
};

// A copy-up stamp plus the base path it was taken from: after a rename the upper file
// lives at a new path but its content still derives from the base file at `origin`.
struct CopyUpRecord {
  BaseStamp stamp;
  std::string origin;
  // An entry renamed here from `origin` replaced what the base held here, which is what a
  // commit of it overwrites: that must not have changed since either. Unset for renames
  // recorded before the layer kept it (their commit checks the origin alone, as it did).
  std::optional<SeenBase> replaced;
};

// The base version the sandbox saw at `path`, whose record is `record`: its copy-up
// stamp, or what the rename that moved the entry there replaced; nullopt when unknown.
std::optional<SeenBase> seen_base(const CopyUpRecord& record, std::string_view path);

struct JournalRecord;  // one line of the journal file, see journal_record.h

// What the records a journal holds cost the sandbox's write quota (fs/write_quota.h):
// their bytes as a compacted journal writes them, and one name per whiteout and opaque
// marker (each stands for an entry of the layer, as overlayfs's whiteout files do).
// Without it an agent deleting base files with long names grew the journal and the fs
// process's memory by ~96 KB / ~40 KB a file, charged to nothing.
struct JournalCharge {
  std::uint64_t bytes = 0;
  std::uint64_t names = 0;
};

// Thread-safe: the FUSE daemon calls it from many worker threads.
class Journal {
 public:
  // Creates STATE, STATE/upper and STATE/journal if missing (mode 0700), replays.
  static std::unique_ptr<Journal> open(const std::string& state_dir);

  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  int upper_fd() const { return upper_fd_.get(); }  // O_PATH|O_DIRECTORY fd of STATE/upper

  // Paths are normalized workspace paths: "/a/b" ("/" is the workspace root).
  //
  // Every change is one record appended to the journal file before memory changes, and
  // answers 0 or -errno: they never throw, because FUSE handlers call them. A failed
  // append leaves the file and memory exactly as they were.
  [[nodiscard]] int add_whiteout(std::string_view path);
  [[nodiscard]] int add_opaque(std::string_view dir_path);
  [[nodiscard]] int remove_marker(std::string_view path);  // clears whiteout AND opaque
  bool is_whiteout(std::string_view path) const;
  bool is_opaque(std::string_view path) const;
  // True when a whiteout at `path` was cleared (the sandbox deleted the base entry, then
  // created something there): commit then knows the sandbox saw and replaced the base
  // entry, even without a copy-up stamp.
  bool was_replaced(std::string_view path) const;

  // Records the base identity the first time a base file is copied up (later calls for
  // the same path keep the first stamp).
  [[nodiscard]] int record_copy_up(std::string_view path, const BaseStamp& stamp);
  std::optional<BaseStamp> copy_up_stamp(std::string_view path) const;
  std::optional<CopyUpRecord> copy_up_record(std::string_view path) const;
  // seen_base() of the record at `path`: what the sandbox saw of the base there, if known.
  std::optional<SeenBase> seen_at(std::string_view path) const;
  [[nodiscard]] int forget_copy_up(std::string_view path);  // after commit: also was_replaced
  // After rename_prefix moved a renamed entry to `path`: what the base held at `path`
  // then (CopyUpRecord::replaced). Nothing to record for an entry not renamed from
  // another path (its own stamp, if any, is that).
  [[nodiscard]] int record_replaced(std::string_view path, const SeenBase& replaced);
  // The renamed entries: (path, the base path it derives from) for each stamp whose
  // origin is not its own path (layer/commit_renames.h).
  std::vector<std::pair<std::string, std::string>> renames() const;

  // Rename bookkeeping: move whiteout/opaque/stamp records under old prefix to new.
  // Records previously at or under `to` are dropped: they described the entry that the
  // rename replaced. The caller still adds a whiteout for `from` (and marks `to` opaque)
  // when the base has entries there, exactly as for unlink/rmdir + mkdir.
  [[nodiscard]] int rename_prefix(std::string_view from, std::string_view to);
  // The same for a directory moved onto `to`, but the base versions the sandbox saw below
  // `to` (the stamps of the entries it deleted there) stay: what lands on one of those
  // paths replaces that version (as its stamp, or CopyUpRecord::replaced for an entry
  // from another origin), the others stay deletion stamps. The commit overwrites or
  // deletes exactly those; the host must not have changed them since.
  [[nodiscard]] int rename_prefix_keeping_seen(std::string_view from, std::string_view to);
  // As rename_prefix_keeping_seen, for a directory whose source the caller whites out
  // after (the base has it): the base versions the sandbox saw at and under `from` (the
  // stamps of the base entries it deleted there, and what an entry renamed in replaced)
  // stay there as deletion stamps, and so do its cleared whiteouts. The commit deletes
  // those base entries with `from`: the host must not have changed them since, whether
  // the commit takes `from` alone or all. Moved to `to`, where the base has nothing, they
  // checked nothing.
  [[nodiscard]] int rename_dir_leaving_seen(std::string_view from, std::string_view to);

  // Makes sure the next appends cannot fail for lack of space: blocks are preallocated
  // beyond the end of the file. The fs calls it before it changes the host, so a full
  // disk refuses the operation (ENOSPC) instead of leaving a host change unrecorded
  // (a deleted base file that comes back). 0 or -errno; 0 where the host filesystem
  // cannot preallocate (the append then stays the only check).
  [[nodiscard]] int reserve();

  // The charge of everything held now. Lock-free: the quota reads it under its own lock.
  JournalCharge charge() const {
    return {charged_bytes_.load(std::memory_order_relaxed),
            charged_names_.load(std::memory_order_relaxed)};
  }
  // At least the bytes one mention of `path` in a record takes (a whiteout is one, a stamp
  // two): what an operation about to add records checks room for.
  static std::uint64_t record_bytes(std::string_view path);

  // True when no record is held: no whiteout, opaque marker, replacement or copy-up stamp.
  bool empty() const;
  std::vector<std::string> whiteouts() const;  // sorted
  std::vector<std::string> opaques() const;    // sorted
  // The whiteouts at or under `dir`, sorted.
  std::vector<std::string> whiteouts_under(std::string_view dir) const;
  void reset();  // forget everything (after discard/commit-all); truncates journal

 private:
  Journal(UniqueFd state_fd, UniqueFd upper_fd);
  void open_journal_file();
  size_t replay();  // returns the number of records read
  // Rewrites the journal as the live state (side file, fsync, rename over it).
  void compact();
  size_t live_records() const;    // records a compacted journal holds; caller holds mu_
  bool wants_compaction() const;  // the file holds far more records than that
  int log_and_apply(const JournalRecord& record);  // caller holds mu_; 0 or -errno
  void apply(const JournalRecord& record);
  // keep_seen: rename_prefix_keeping_seen; leave_seen: rename_dir_leaving_seen.
  void apply_rename(const std::string& from, const std::string& to, bool keep_seen,
                    bool leave_seen);
  // Charges for the entries under the prefixes a rename record touches; caller holds mu_.
  JournalCharge charge_under(std::string_view prefix) const;
  JournalCharge charge_of_rename(std::string_view from, std::string_view to) const;
  void add_charge(const JournalCharge& charge);
  void remove_charge(const JournalCharge& charge);

  UniqueFd state_fd_;
  UniqueFd upper_fd_;
  UniqueFd journal_fd_;  // O_APPEND: one write(2) per record
  off_t size_ = 0;       // of the journal file: a failed append is cut back to it
  off_t allocated_ = 0;  // bytes preallocated from offset 0 (reserve())
  size_t records_ = 0;   // records in the journal file
  mutable std::mutex mu_;
  std::set<std::string, std::less<>> whiteouts_;
  std::set<std::string, std::less<>> opaques_;
  std::set<std::string, std::less<>> replaced_;
  // A stamp's origin is empty when it is the key: a deleted base file's stamp used to
  // hold its path twice, in the file and in memory.
  std::map<std::string, CopyUpRecord, std::less<>> stamps_;
  size_t replaced_stamps_ = 0;  // stamps with `replaced`: compact() writes a record each
  // charge(): kept in step with the four sets above by apply() and reset().
  std::atomic<std::uint64_t> charged_bytes_{0};
  std::atomic<std::uint64_t> charged_names_{0};
};

// For callers outside FUSE handlers (commit, discard), whose error path is an exception:
// throws SystemError naming `what` when a journal change answered -errno.
void must_record(int rc, std::string_view what);

}  // namespace agentfense::layer
