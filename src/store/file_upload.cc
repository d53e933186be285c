// CodebaseStore::upload: one file, streamed to disk and swapped in atomically.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <optional>

#include "common/api_error.h"
#include "common/errors.h"
#include "common/sha256.h"
#include "common/user_text.h"
#include "layer/safe_walk.h"
#include "layer/tree_bytes.h"
#include "store/codebase_store.h"
#include "store/ids.h"
#include "store/safe_path.h"
#include "store/staging.h"

namespace agentfense::store {
namespace {

void write_all(int fd, std::string_view bytes, const std::string& what) {
  while (!bytes.empty()) {
    const ssize_t written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0 && errno == EINTR) continue;
    check_syscall(written, "write " + what);
    bytes.remove_prefix(static_cast<size_t>(written));
  }
}

}  // namespace

void CodebaseStore::check_room(const std::string& codebase_id, int root_fd,
                               const CodebasePath& path, std::int64_t charge) {
  const Room room = this->room(codebase_id);
  if (room.bytes < 0) return;
  std::int64_t replaced = 0;  // a file of that name gives its charge back
  try {
    UniqueFd parent = open_dir_in_codebase(root_fd, path.parent(), false);
    const std::optional<struct stat> old = layer::stat_at(parent.get(), path.name());
    if (old && S_ISREG(old->st_mode)) replaced = layer::charged_bytes(*old);
  } catch (const ApiError& error) {
    if (error.code() != StatusCode::NOT_FOUND) throw;
  }
  if (charge - replaced > room.bytes)
    throw_over_limit("codebase " + codebase_id + " with " + path.display, room.key.c_str(),
                     room.limit);
}

v1::UploadResult CodebaseStore::upload(const std::string& codebase_id, const std::string& file_path,
                                       int64_t total_size, const Next<std::string>& data) {
  const CodebasePath path = parse_codebase_path(file_path, false);
  refuse_reserved_names(path);
  const std::string dir = files_dir(codebase_id);
  UniqueFd root = open_root_dir(dir);
  // A single file can never be larger than either limit: refused as soon as it is.
  const auto check_size = [&](std::int64_t bytes) {
    if (limits_.max_upload_bytes != 0 && bytes > limits_.max_upload_bytes)
      throw_over_limit("upload of " + path.display, "storage.max_upload_bytes",
                       limits_.max_upload_bytes);
    if (limits_.max_codebase_bytes != 0 && bytes > limits_.max_codebase_bytes)
      throw_over_limit("upload of " + path.display, "storage.max_codebase_bytes",
                       limits_.max_codebase_bytes);
  };
  check_size(total_size);

  // The temp file lives in the staging area (same filesystem, invisible to sandboxes), so
  // a failed or short upload leaves nothing in the codebase, not even parent directories.
  StagingDir staging(codebase_path_, dir);
  const std::string temp_name = new_id("upload_");
  UniqueFd file(check_syscall(::openat(staging.fd(), temp_name.c_str(),
                                       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644),
                              "create upload temp file for " + path.display));

  Sha256 hash;
  int64_t received = 0;
  std::string chunk;
  while (data(chunk)) {
    write_all(file.get(), chunk, path.display);
    hash.update(chunk);
    received += static_cast<int64_t>(chunk.size());
    check_size(received);
    chunk.clear();
  }
  if (total_size > 0 && received != total_size) {
    throw ApiError(StatusCode::INVALID_ARGUMENT, "upload of " + escape_user_text(path.display) +
                                                     ": received " + std::to_string(received) +
                                                     " bytes, total_size says " +
                                                     std::to_string(total_size));
  }
  check_syscall(::fsync(file.get()), "fsync upload of " + path.display);

  {
    // Serialized so that two uploads of the same path cannot both count as "new".
    std::lock_guard<std::mutex> install(install_mutex_);
    // Before any directory is made; the directories it makes are charged too (an upload
    // path 2,000 levels deep makes 2,000 of them).
    const std::int64_t charge = layer::charged_file_bytes(received) +
                                missing_dirs(root.get(), path.parent()) * layer::kEntryBlockBytes;
    check_room(codebase_id, root.get(), path, charge);
    UniqueFd parent = open_dir_in_codebase(root.get(), path.parent(), true);
    const std::string name = path.name();
    const std::optional<struct stat> old = layer::stat_at(parent.get(), name);
    if (old && S_ISLNK(old->st_mode)) throw_invalid_path(path.display, "is a symlink");
    if (old && S_ISDIR(old->st_mode)) throw_invalid_path(path.display, "is a directory");
    // Replacing a file keeps its permission bits (an uploaded script stays executable).
    if (old && S_ISREG(old->st_mode)) {
      check_syscall(::fchmod(file.get(), old->st_mode & 0777), "chmod " + path.display);
    }
    TreeStats delta{received, 1, charge};
    if (old) delta = delta - entry_stats(*old);
    check_syscall(::renameat(staging.fd(), temp_name.c_str(), parent.get(), name.c_str()),
                  "rename upload into " + path.display);
    UniqueFd readable_parent = layer::reopen_dir(parent.get());
    check_syscall(::fsync(readable_parent.get()), "fsync directory of " + path.display);
    adjust_stats(codebase_id, delta);
  }

  v1::UploadResult result;
  result.set_codebase_id(codebase_id);
  result.set_file_path(path.display);
  result.set_size(received);
  result.set_checksum("sha256:" + hash.finish_hex());
  return result;
}

}  // namespace agentfense::store
