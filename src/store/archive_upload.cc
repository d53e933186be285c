// CodebaseStore::upload_archive: extract into staging, then move into the codebase.
#include <mutex>

#include "common/api_error.h"
#include "layer/tree_bytes.h"
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
  refuse_reserved_names(dest);
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
  // The stream was checked by file bytes; the whole charge adds a block per directory and
  // symlink (an archive of empty directories and long symlink targets takes disk too).
  // Counted here, outside the lock: the staging tree is this call's own.
  const std::int64_t charged = layer::charged_bytes_below(staging.fd());

  {
    std::lock_guard<std::mutex> install(install_mutex_);
    // Again under the lock: the room above was taken before streaming, and archives
    // streamed side by side each had all of it (four 1 MiB archives stored 4 MiB under a
    // 1 MiB limit). Replaced files are not credited: conservative. The directories the
    // destination still needs are made here and charged too.
    const std::int64_t made = missing_dirs(root.get(), dest) * layer::kEntryBlockBytes;
    if (const Room now = room(codebase_id); now.bytes >= 0 && charged + made > now.bytes)
      throw_over_limit("codebase " + codebase_id + " with this archive", now.key.c_str(),
                       now.limit);
    UniqueFd target = open_dir_in_codebase(root.get(), dest, true);
    TreeStats delta = merge_tree(staging.fd(), target.get());
    delta.charged += made;
    adjust_stats(codebase_id, delta);
  }

  v1::UploadArchiveResult result;
  result.set_codebase_id(codebase_id);
  result.set_files(extracted.entries);
  result.set_bytes(extracted.bytes);
  return result;
}

}  // namespace agentfense::store
