// The per-sandbox layer bookkeeping that cannot be expressed as files in STATE/upper:
// whiteouts, opaque directories and copy-up stamps. See src/layer/README.md for the
// on-disk layout. Whiteouts live only here (never as files in upper) so the agent cannot
// forge layer bookkeeping by creating a specially named file.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
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

// A copy-up stamp plus the base path it was taken from: after a rename the upper file
// lives at a new path but its content still derives from the base file at `origin`.
struct CopyUpRecord {
  BaseStamp stamp;
  std::string origin;
};

struct JournalRecord;  // one line of the journal file, see journal_record.h

// Thread-safe: the FUSE daemon calls it from many worker threads.
class Journal {
 public:
  // Creates STATE, STATE/upper and STATE/journal if missing (mode 0700), replays.
  static std::unique_ptr<Journal> open(const std::string& state_dir);

  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  int upper_fd() const { return upper_fd_.get(); }  // O_PATH|O_DIRECTORY fd of STATE/upper

  // Paths are normalized workspace paths: "/a/b" ("/" is the workspace root).
  void add_whiteout(std::string_view path);
  void add_opaque(std::string_view dir_path);
  void remove_marker(std::string_view path);  // clears whiteout AND opaque for path
  bool is_whiteout(std::string_view path) const;
  bool is_opaque(std::string_view path) const;
  // True when a whiteout at `path` was cleared (the sandbox deleted the base entry, then
  // created something there): commit then knows the sandbox saw and replaced the base
  // entry, even without a copy-up stamp.
  bool was_replaced(std::string_view path) const;

  // Records the base identity the first time a base file is copied up (later calls for
  // the same path keep the first stamp).
  void record_copy_up(std::string_view path, const BaseStamp& stamp);
  std::optional<BaseStamp> copy_up_stamp(std::string_view path) const;
  std::optional<CopyUpRecord> copy_up_record(std::string_view path) const;
  void forget_copy_up(std::string_view path);  // after commit: also clears was_replaced

  // Rename bookkeeping: move whiteout/opaque/stamp records under old prefix to new.
  // Records previously at or under `to` are dropped: they described the entry that the
  // rename replaced. The caller still adds a whiteout for `from` (and marks `to` opaque)
  // when the base has entries there, exactly as for unlink/rmdir + mkdir.
  void rename_prefix(std::string_view from, std::string_view to);

  std::vector<std::string> whiteouts() const;  // sorted
  std::vector<std::string> opaques() const;    // sorted
  void reset();  // forget everything (after discard/commit-all); truncates journal

 private:
  Journal(UniqueFd state_fd, UniqueFd upper_fd);
  void open_journal_file();
  size_t replay();  // returns the number of records read
  void compact();
  void log_and_apply(const JournalRecord& record);  // caller holds mu_
  void apply(const JournalRecord& record);

  UniqueFd state_fd_;
  UniqueFd upper_fd_;
  UniqueFd journal_fd_;  // O_APPEND: one write(2) per record
  mutable std::mutex mu_;
  std::set<std::string, std::less<>> whiteouts_;
  std::set<std::string, std::less<>> opaques_;
  std::set<std::string, std::less<>> replaced_;
  std::map<std::string, CopyUpRecord, std::less<>> stamps_;
};

}  // namespace agentfense::layer
