// CodebaseStore::download and list_files: reading a codebase's files.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>

#include "common/errors.h"
#include "layer/listing_walk.h"
#include "layer/safe_walk.h"
#include "store/codebase_store.h"
#include "store/safe_path.h"
#include "store/timestamps.h"

namespace agentfense::store {
namespace {

constexpr size_t kChunkSize = 64 * 1024;

v1::FileInfo file_info(const std::string& path, const struct stat& st) {
  v1::FileInfo info;
  info.set_path(path);
  info.set_name(path == "/" ? "" : path.substr(path.rfind('/') + 1));
  info.set_is_dir(S_ISDIR(st.st_mode));
  info.set_size(S_ISREG(st.st_mode) ? st.st_size : 0);
  *info.mutable_modified_at() =
      to_timestamp(static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000 + st.st_mtim.tv_nsec / 1000);
  return info;
}

}  // namespace

void CodebaseStore::download(const std::string& codebase_id, const std::string& file_path,
                             const Emit<std::string>& emit) {
  const CodebasePath path = parse_codebase_path(file_path, false);
  // A temporary entry (or a crash's leftover of one) is not the codebase's content.
  refuse_reserved_names(path);
  UniqueFd root = open_root_dir(files_dir(codebase_id));
  // O_NONBLOCK: opening a fifo someone placed in the codebase must not hang the server
  // (it is then refused as not a regular file); regular-file reads ignore the flag.
  const int fd = openat2_beneath(root.get(), path.relative(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) throw_path_error(-fd, path);
  UniqueFd file(fd);
  struct stat st {};
  check_syscall(::fstat(file.get(), &st), "stat " + path.display);
  if (!S_ISREG(st.st_mode)) throw_invalid_path(path.display, "is not a regular file");
  std::string buffer(kChunkSize, '\0');
  for (;;) {
    const ssize_t got = ::read(file.get(), buffer.data(), buffer.size());
    if (got < 0 && errno == EINTR) continue;
    check_syscall(got, "read " + path.display);
    if (got == 0) return;
    if (!emit(buffer.substr(0, static_cast<size_t>(got)))) return;  // the client has gone
  }
}

v1::ListFilesResponse CodebaseStore::list_files(const std::string& codebase_id,
                                                const std::string& path, bool recursive) {
  const CodebasePath dir = parse_codebase_path(path, true);
  refuse_reserved_names(dir);
  UniqueFd root = open_root_dir(files_dir(codebase_id));
  UniqueFd dir_fd = open_dir_in_codebase(root.get(), dir, false);
  v1::ListFilesResponse out;
  layer::ListingBudget budget;
  layer::ListingWalk walk(recursive, budget, [&](const std::string& file, const struct stat& st) {
    *out.add_files() = file_info(file, st);
  });
  walk.run(dir_fd.get(), dir.display);
  out.set_truncated(budget.spent());
  // They stay in the codebase, visible inside sandboxes.
  walk.log_unlisted("codebase.names_not_listed", {{"codebase_id", codebase_id}});
  // Depth-first order is not path order ("/a/b" vs "/a-c"): sort the final list.
  std::sort(out.mutable_files()->begin(), out.mutable_files()->end(),
            [](const v1::FileInfo& a, const v1::FileInfo& b) { return a.path() < b.path(); });
  return out;
}

}  // namespace agentfense::store
