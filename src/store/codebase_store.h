// Codebases: their metadata rows in SQLite and their files on disk.
//
// A stored codebase's files live at <codebase_path>/<id>/; an imported one is served in
// place from the server-local directory it was imported from (never copied, never
// deleted by us). Every file operation resolves client paths with safe_path.h, so no
// path, symlink or archive entry can make the server touch anything outside the codebase.
//
// Errors: ApiError for what the client got wrong (NOT_FOUND + kReasonCodebaseNotFound,
// INVALID_ARGUMENT + kReasonInvalidPath, ...), SystemError / DatabaseError for the host.
// Thread-safe: metadata goes through the Database mutex; writes that change size
// accounting take install_mutex_ only around the final rename, never while streaming.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "codebase.pb.h"
#include "common/api_error.h"
#include "common/streams.h"
#include "store/database.h"
#include "store/safe_path.h"
#include "store/trash.h"
#include "store/tree_stats.h"
#include "store/upload_limits.h"

namespace agentfense::store {

namespace v1 = ::sandbox::v1;

class CodebaseStore {
 public:
  // Creates `codebase_path` when absent and sets aside, for the trash (trash.h), the
  // staging dirs left by a crash (one server per codebase_path). Uploads are held to
  // `limits` (upload_limits.h).
  CodebaseStore(Database& db, std::string codebase_path, UploadLimits limits = {});

  // Starts removing deleted codebases' files and crash leftovers in the background (the
  // server calls it once it listens; nothing is removed before). The destructor stops it.
  void start_removals() { trash_.start(); }
  // Blocks until the removals queued so far have run (tests).
  bool wait_for_removals() { return trash_.wait_idle(); }

  // --- metadata (codebase_store.cc) ---
  v1::Codebase create(const std::string& name, const std::string& owner_id);
  v1::Codebase get(const std::string& id);
  // Ordered by (created_at, id); owner_id empty = every owner.
  v1::ListCodebasesResponse list(const std::string& owner_id, int page_size,
                                 const std::string& page_token);
  // The same for any of `owners` (none: an empty listing).
  v1::ListCodebasesResponse list_for_owners(const std::vector<std::string>& owners, int page_size,
                                            const std::string& page_token);
  // FAILED_PRECONDITION while sandboxes use it. A stored codebase's files leave its
  // directory at once (renamed into the trash) and are removed in the background without
  // following symlinks; an imported codebase's directory is left alone.
  void remove(const std::string& id);
  // The base directory a sandbox mounts.
  std::string files_dir(const std::string& id);
  // Re-walks the files and stores size/file_count (after commits changed the tree).
  v1::Codebase recount(const std::string& id);
  // `path` must be absolute, an existing directory, and (after realpath) lie under one of
  // `allowed_roots` (PERMISSION_DENIED otherwise); no roots = import disabled
  // (FAILED_PRECONDITION).
  v1::Codebase import_directory(const std::string& name, const std::string& owner_id,
                                const std::string& path,
                                const std::vector<std::string>& allowed_roots);

  // --- single files (file_upload.cc, file_read.cc) ---
  // Streams `data` into a temp file beside the target, fsyncs, renames over the target.
  // total_size > 0 must equal the bytes received (else INVALID_ARGUMENT, nothing kept).
  // RESOURCE_EXHAUSTED (nothing kept) beyond max_upload_bytes or max_codebase_bytes.
  v1::UploadResult upload(const std::string& codebase_id, const std::string& file_path,
                          int64_t total_size, const Next<std::string>& data);
  // 64 KiB chunks; stops early when `emit` returns false.
  void download(const std::string& codebase_id, const std::string& file_path,
                const Emit<std::string>& emit);
  // Entries below `path` ("" or "/" = root), paths "/a/b", sorted; symlinks are listed,
  // never descended.
  v1::ListFilesResponse list_files(const std::string& codebase_id, const std::string& path,
                                   bool recursive);

  // --- limits (upload_limits.h) ---
  const UploadLimits& limits() const { return limits_; }
  // Bytes the codebase may still grow by under max_codebase_bytes and the extra room
  // limit (as last counted); -1 = no limit. room() also names the binding setting.
  std::int64_t free_bytes(const std::string& codebase_id) { return room(codebase_id).bytes; }
  Room room(const std::string& codebase_id);
  // What the codebase is charged against those limits (tree_stats.h), as last counted.
  std::int64_t charged(const std::string& codebase_id);
  // A further bound on a codebase's growth, asked at every upload and commit: the server
  // sets the stored-bytes quota of the principal the codebase is charged to.
  using ExtraRoom = std::function<Room(const std::string& codebase_id)>;
  void set_extra_room(ExtraRoom extra) { extra_room_ = std::move(extra); }
  // Raises what the codebase is charged at once (a commit about to land at most `bytes`);
  // the next recount() replaces it with what is really there.
  void add_charge(const std::string& codebase_id, std::int64_t bytes) {
    adjust_stats(codebase_id, {.charged = bytes});
  }

  // --- archives (archive_upload.cc) ---
  // Extracts a tar / tar.gz stream under `dest_dir` via a staging directory: a rejected
  // archive (INVALID_ARGUMENT naming the entry, RESOURCE_EXHAUSTED naming the limit)
  // leaves the codebase untouched.
  v1::UploadArchiveResult upload_archive(const std::string& codebase_id,
                                         const std::string& dest_dir,
                                         const Next<std::string>& data);

 private:
  v1::ListCodebasesResponse list_page(const std::vector<std::string>* owners, int page_size,
                                      const std::string& page_token);
  void adjust_stats(const std::string& id, const TreeStats& delta);
  // DeleteCodebase's files leave the codebase (into the staging area) before its row.
  void move_to_staging(const std::string& id);
  void move_back_from_staging(const std::string& id);
  // At start-up: hands .staging to the trash.
  void set_aside_staging();
  // At start-up: what commits and uploads killed midway left inside the codebases
  // (commit_lock.h, staging.h).
  void remove_crash_leftovers();
  v1::Codebase insert(const std::string& name, const std::string& owner_id,
                      const std::string& imported_from, const TreeStats& stats);
  std::string staging_parent(const std::string& files_dir);

  // RESOURCE_EXHAUSTED unless a file at `path` charged `charge` (its bytes and the
  // directories made for it) fits in the codebase.
  void check_room(const std::string& codebase_id, int root_fd, const CodebasePath& path,
                  std::int64_t charge);

  Database& db_;
  std::string codebase_path_;
  UploadLimits limits_;
  std::mutex install_mutex_;
  ExtraRoom extra_room_;
  // Last: destroyed first, so its thread stops before anything it could use.
  Trash trash_{codebase_path_ + "/.trash"};
};

}  // namespace agentfense::store
