#include "store/codebase_store.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <memory>
#include <utility>

#include "common/api_error.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/unique_fd.h"
#include "common/user_text.h"
#include "layer/commit_lock.h"
#include "layer/safe_walk.h"
#include "store/ids.h"
#include "store/page_token.h"
#include "store/safe_path.h"
#include "store/staging.h"
#include "store/timestamps.h"

namespace agentfense::store {
namespace {

constexpr const char* kColumns =
    "id, name, owner_id, size, file_count, created_at, updated_at, imported_from";
constexpr const char* kTokenKind = "cb";

v1::Codebase codebase_from_row(const Statement& row) {
  v1::Codebase out;
  out.set_id(row.column_text(0));
  out.set_name(row.column_text(1));
  out.set_owner_id(row.column_text(2));
  out.set_size(row.column_int64(3));
  out.set_file_count(static_cast<int32_t>(row.column_int64(4)));
  *out.mutable_created_at() = to_timestamp(row.column_int64(5));
  *out.mutable_updated_at() = to_timestamp(row.column_int64(6));
  out.set_imported_from(row.column_text(7));
  return out;
}

[[noreturn]] void not_found(const std::string& id) {
  throw ApiError(StatusCode::NOT_FOUND, "codebase " + escape_user_text(id) + " not found",
                 kReasonCodebaseNotFound);
}

std::string real_path(const std::string& path) {
  std::unique_ptr<char, decltype(&::free)> resolved(::realpath(path.c_str(), nullptr), &::free);
  if (!resolved) return {};
  return resolved.get();
}

std::string join_roots(const std::vector<std::string>& roots) {
  std::string out;
  for (const std::string& root : roots) out += (out.empty() ? "" : ", ") + root;
  return out;
}

}  // namespace

CodebaseStore::CodebaseStore(Database& db, std::string codebase_path, UploadLimits limits)
    : db_(db), codebase_path_(std::move(codebase_path)), limits_(limits) {
  std::error_code error;
  std::filesystem::create_directories(codebase_path_, error);
  if (error) throw SystemError("mkdir " + codebase_path_, error.value());
  set_aside_staging();
  remove_crash_leftovers();
}

void CodebaseStore::set_aside_staging() {
  // What a killed server left in the staging area (uploads' scratch trees, deleted
  // codebases not yet removed) is referenced by nothing: one rename hands it all to the
  // trash, so start-up never waits for its unlinks. Uploads make a new .staging.
  try {
    const UniqueFd parent = open_root_dir(codebase_path_);
    if (trash_.take(parent.get(), ".staging", "staging.")) log::info("store.staging_set_aside");
  } catch (const SystemError& error) {
    // Never fatal: a tree that cannot be moved must not keep the server from starting.
    log::warn("store.staging_cleanup_incomplete", {{"error", error.what()}});
  }
}

void CodebaseStore::remove_crash_leftovers() {
  std::vector<std::pair<std::string, bool>> dirs;  // files directory, imported
  {
    auto guard = db_.lock();
    Statement query(db_, "SELECT id, imported_from FROM codebases");
    while (query.step()) {
      const std::string imported_from = query.column_text(1);
      if (imported_from.empty())
        dirs.emplace_back(codebase_path_ + "/" + query.column_text(0), false);
      else
        dirs.emplace_back(imported_from, true);
    }
  }
  for (const auto& [dir, imported] : dirs) {
    const UniqueFd root(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) continue;  // an imported directory gone meanwhile: its requests say so
    // Only directories a dead commit recorded are looked at, and only when no commit to
    // that codebase is running (an fs process may outlive a crashed server).
    layer::CommitLock::sweep_leftovers(root.get());
    // An upload into an imported directory on another filesystem stages at its root,
    // in the user's own tree (staging.h): listed now, before any upload of this server
    // stages there, and removed by the trash's thread (another filesystem: no rename).
    if (!imported) continue;
    std::vector<std::string> names = staging_leftovers(root.get());
    if (names.empty()) continue;
    auto owned = std::make_shared<UniqueFd>(::dup(root.get()));
    if (!*owned) continue;  // no fd to spare: the next start tries again
    trash_.later([owned, names = std::move(names)](const std::atomic<bool>& stop) {
      remove_staging_leftovers(owned->get(), names, stop);
    });
  }
}

v1::Codebase CodebaseStore::insert(const std::string& name, const std::string& owner_id,
                                   const std::string& imported_from, const TreeStats& stats) {
  const std::string id = new_id("cb_");
  const int64_t now = now_us();
  {
    auto guard = db_.lock();
    Statement(db_,
              "INSERT INTO codebases (id, name, owner_id, size, file_count, created_at, "
              "updated_at, imported_from, charged) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
        .bind(1, id)
        .bind(2, name)
        .bind(3, owner_id)
        .bind(4, stats.size)
        .bind(5, stats.file_count)
        .bind(6, now)
        .bind(7, now)
        .bind(8, imported_from)
        .bind(9, stats.charged)
        .run();
  }
  return get(id);
}

v1::Codebase CodebaseStore::create(const std::string& name, const std::string& owner_id) {
  if (name.empty()) {
    throw ApiError(StatusCode::INVALID_ARGUMENT, "codebase name is required");
  }
  // Row first (it allocates the id), then the directory; if mkdir fails the row is
  // deleted again, so a failed create leaves no codebase without its directory.
  v1::Codebase codebase = insert(name, owner_id, "", {});
  const std::string dir = codebase_path_ + "/" + codebase.id();
  if (::mkdir(dir.c_str(), 0700) != 0) {
    const int err = errno;
    auto guard = db_.lock();
    Statement(db_, "DELETE FROM codebases WHERE id = ?").bind(1, codebase.id()).run();
    throw SystemError("mkdir " + dir, err);
  }
  return codebase;
}

v1::Codebase CodebaseStore::get(const std::string& id) {
  auto guard = db_.lock();
  Statement query(db_, std::string("SELECT ") + kColumns + " FROM codebases WHERE id = ?");
  query.bind(1, id);
  if (!query.step()) not_found(id);
  return codebase_from_row(query);
}

v1::ListCodebasesResponse CodebaseStore::list(const std::string& owner_id, int page_size,
                                              const std::string& page_token) {
  if (owner_id.empty()) return list_page(nullptr, page_size, page_token);
  const std::vector<std::string> owners = {owner_id};
  return list_page(&owners, page_size, page_token);
}

v1::ListCodebasesResponse CodebaseStore::list_for_owners(const std::vector<std::string>& owners,
                                                         int page_size,
                                                         const std::string& page_token) {
  return list_page(&owners, page_size, page_token);
}

v1::ListCodebasesResponse CodebaseStore::list_page(const std::vector<std::string>* owners,
                                                   int page_size, const std::string& page_token) {
  const int limit = effective_page_size(page_size);
  const std::optional<PageCursor> after = decode_page_token(kTokenKind, page_token);
  auto guard = db_.lock();
  // Fetch one extra row to learn whether another page exists.
  Statement query(db_, std::string("SELECT ") + kColumns + " FROM codebases WHERE " +
                           (owners ? "owner_id IN (" + placeholders(4, owners->size()) + ")"
                                   : std::string("1")) +
                           " AND (?1 IS NULL OR (created_at, id) > (?1, ?2))"
                           " ORDER BY created_at, id LIMIT ?3");
  if (after) {
    query.bind(1, after->created_at_us).bind(2, after->id);
  } else {
    query.bind_null(1).bind_null(2);
  }
  query.bind(3, static_cast<int64_t>(limit) + 1);
  if (owners)
    for (std::size_t i = 0; i < owners->size(); ++i)
      query.bind(static_cast<int>(4 + i), (*owners)[i]);
  v1::ListCodebasesResponse out;
  while (query.step()) {
    if (out.codebases_size() == limit) {
      const v1::Codebase& last = out.codebases(limit - 1);
      out.set_next_page_token(encode_page_token(kTokenKind, {to_us(last.created_at()), last.id()}));
      break;
    }
    *out.add_codebases() = codebase_from_row(query);
  }
  return out;
}

void CodebaseStore::remove(const std::string& id) {
  std::string imported_from;
  {
    Transaction tx(db_);
    imported_from = get(id).imported_from();
    Statement count(db_, "SELECT COUNT(*) FROM sandboxes WHERE codebase_id = ?");
    count.bind(1, id);
    const int64_t sandboxes = count.step() ? count.column_int64(0) : 0;
    if (sandboxes > 0) {
      throw ApiError(StatusCode::FAILED_PRECONDITION,
                     "codebase " + escape_user_text(id) + " is still used by " +
                         std::to_string(sandboxes) + " sandbox(es); destroy them first");
    }
    Statement(db_, "DELETE FROM codebases WHERE id = ?").bind(1, id).run();
    // The files leave the codebase before its row goes: moved whole into the staging
    // area, which every start empties. Removed after the row, a removal that failed
    // half-way left files no codebase, quota or clean-up accounted for, and a tenant
    // could repeat it without end.
    if (imported_from.empty()) move_to_staging(id);
    try {
      tx.commit();
    } catch (...) {
      if (imported_from.empty()) move_back_from_staging(id);  // the row stays: so do they
      throw;
    }
  }
  if (!imported_from.empty()) return;  // served in place: the directory is not ours
  // Committed: the files go to the trash (one rename) and are removed in the background,
  // so the call does not wait for one unlink per file.
  try {
    UniqueFd staging = open_root_dir(codebase_path_ + "/.staging");
    trash_.take(staging.get(), "deleted_" + id, "deleted_" + id + ".");
  } catch (const SystemError& error) {
    // The codebase is gone; its files stay in .staging, which the next start sets aside.
    log::warn("store.delete_incomplete", {{"codebase_id", id}, {"error", error.what()}});
  }
}

void CodebaseStore::move_to_staging(const std::string& id) {
  const std::string staging = codebase_path_ + "/.staging";
  if (::mkdir(staging.c_str(), 0700) != 0 && errno != EEXIST)
    throw SystemError("mkdir " + staging, errno);
  UniqueFd parent = open_root_dir(codebase_path_);
  UniqueFd staging_fd = open_root_dir(staging);
  const std::string moved = "deleted_" + id;
  if (::renameat(parent.get(), id.c_str(), staging_fd.get(), moved.c_str()) != 0 && errno != ENOENT)
    throw SystemError("move codebase " + id + " out for deletion", errno);
}

void CodebaseStore::move_back_from_staging(const std::string& id) {
  UniqueFd parent = open_root_dir(codebase_path_);
  UniqueFd staging_fd = open_root_dir(codebase_path_ + "/.staging");
  const std::string moved = "deleted_" + id;
  // On a failure path: if this fails too, its error replaces the commit's, so the caller
  // learns that the files were moved.
  check_syscall(::renameat(staging_fd.get(), moved.c_str(), parent.get(), id.c_str()),
                "move codebase " + id + " back after a failed delete");
}

std::string CodebaseStore::files_dir(const std::string& id) {
  const v1::Codebase codebase = get(id);
  return codebase.imported_from().empty() ? codebase_path_ + "/" + id : codebase.imported_from();
}

Room CodebaseStore::room(const std::string& codebase_id) {
  Room room{.limit = limits_.max_codebase_bytes};
  if (limits_.max_codebase_bytes != 0)
    room.bytes = std::max<std::int64_t>(0, limits_.max_codebase_bytes - charged(codebase_id));
  if (extra_room_) {
    Room extra = extra_room_(codebase_id);
    if (extra.bytes >= 0 && (room.bytes < 0 || extra.bytes < room.bytes)) room = std::move(extra);
  }
  return room;
}

std::int64_t CodebaseStore::charged(const std::string& codebase_id) {
  auto guard = db_.lock();
  Statement query(db_, "SELECT charged FROM codebases WHERE id = ?");
  query.bind(1, codebase_id);
  if (!query.step()) not_found(codebase_id);
  return query.column_int64(0);
}

void CodebaseStore::adjust_stats(const std::string& id, const TreeStats& delta) {
  auto guard = db_.lock();
  Statement(db_,
            "UPDATE codebases SET size = MAX(0, size + ?), file_count = MAX(0, file_count + ?),"
            " charged = MAX(0, charged + ?), updated_at = ? WHERE id = ?")
      .bind(1, delta.size)
      .bind(2, delta.file_count)
      .bind(3, delta.charged)
      .bind(4, now_us())
      .bind(5, id)
      .run();
}

v1::Codebase CodebaseStore::recount(const std::string& id) {
  UniqueFd root = open_root_dir(files_dir(id));
  const TreeStats stats = tree_stats_inside(root.get());
  {
    auto guard = db_.lock();
    Statement(db_,
              "UPDATE codebases SET size = ?, file_count = ?, charged = ?, updated_at = ? "
              "WHERE id = ?")
        .bind(1, stats.size)
        .bind(2, stats.file_count)
        .bind(3, stats.charged)
        .bind(4, now_us())
        .bind(5, id)
        .run();
  }
  return get(id);
}

v1::Codebase CodebaseStore::import_directory(const std::string& name, const std::string& owner_id,
                                             const std::string& path,
                                             const std::vector<std::string>& allowed_roots) {
  if (allowed_roots.empty()) {
    throw ApiError(StatusCode::FAILED_PRECONDITION,
                   "directory import is disabled (storage.import_roots is empty)");
  }
  if (name.empty()) {
    throw ApiError(StatusCode::INVALID_ARGUMENT, "codebase name is required");
  }
  if (path.empty() || path.front() != '/') {
    throw ApiError(StatusCode::INVALID_ARGUMENT,
                   "import path \"" + escape_user_text(path) + "\" must be absolute",
                   kReasonInvalidPath);
  }
  const std::string resolved = real_path(path);
  struct stat st {};
  if (resolved.empty() || ::stat(resolved.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw ApiError(StatusCode::INVALID_ARGUMENT,
                   "import path " + escape_user_text(path) + " is not an existing directory",
                   kReasonInvalidPath);
  }
  bool allowed = false;
  for (const std::string& root : allowed_roots) {
    const std::string real_root = real_path(root);
    if (!real_root.empty() && layer::is_same_or_under(resolved, real_root)) allowed = true;
  }
  if (!allowed) {
    throw ApiError(StatusCode::PERMISSION_DENIED,
                   "import path " + escape_user_text(path) + " (" + escape_user_text(resolved) +
                       ") is not under any of storage.import_roots: " + join_roots(allowed_roots),
                   kReasonPermissionDenied);
  }
  UniqueFd root = open_root_dir(resolved);
  return insert(name, owner_id, resolved, tree_stats_inside(root.get()));
}

}  // namespace agentfense::store
