// CodebaseStore::upload_archive: extract into staging, then move into the codebase.
#include <mutex>

#include "common/api_error.h"
#include "store/archive_extract.h"
#include "store/codebase_store.h"
#include "store/safe_path.h"
#include "store/staging.h"
#include "store/tree_merge.h"

namespace agentfense::store {

v1::UploadArchiveResult CodebaseStore::upload_archive(const std::string& codebase_id,
                                                      const std::string& dest_dir,
                                                      const Next<std::string>& data) {
  const CodebasePath dest = parse_codebase_path(dest_dir, true);
  const std::string dir = files_dir(codebase_id);
  UniqueFd root = open_root_dir(dir);
  try {
    // Fail fast on a destination through a symlink or a file, before reading the stream;
    // a missing destination is fine (created at the end) and re-checked then.
    open_dir_in_codebase(root.get(), dest, false);
  } catch (const ApiError& e) {
    if (e.code() != StatusCode::NOT_FOUND) throw;
  }

  // Everything is validated while extracting into staging; the codebase is only touched
  // once the whole archive has been accepted.
  StagingDir staging(codebase_path_, dir);
  const ExtractResult extracted =
      extract_archive(staging.fd(), data, {.limits = limits_, .room = room(codebase_id)});

  {
    std::lock_guard<std::mutex> install(install_mutex_);
    // Again under the lock: the room above was taken before streaming, and archives
    // streamed side by side each had all of it (four 1 MiB archives stored 4 MiB under a
    // 1 MiB limit). Replaced files are not credited: conservative.
    if (const Room now = room(codebase_id); now.bytes >= 0 && extracted.bytes > now.bytes)
      throw_over_limit("codebase " + codebase_id + " with this archive", now.key.c_str(),
                       now.limit);
    UniqueFd target = open_dir_in_codebase(root.get(), dest, true);
    adjust_stats(codebase_id, merge_tree(staging.fd(), target.get()));
  }

  v1::UploadArchiveResult result;
  result.set_codebase_id(codebase_id);
  result.set_files(extracted.entries);
  result.set_bytes(extracted.bytes);
  return result;
}

}  // namespace agentfense::store
