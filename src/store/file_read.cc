// CodebaseStore::download and list_files: reading a codebase's files.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>

#include "common/errors.h"
#include "common/log.h"
#include "common/text_safety.h"
#include "common/user_text.h"
#include "layer/listed_paths.h"
#include "layer/safe_walk.h"
#include "store/codebase_store.h"
#include "store/safe_path.h"
#include "store/timestamps.h"

namespace agentfense::store {
namespace {

constexpr size_t kChunkSize = 64 * 1024;

v1::FileInfo file_info(const CodebasePath& path, const struct stat& st) {
  v1::FileInfo info;
  info.set_path(path.display);
  info.set_name(path.name());
  info.set_is_dir(S_ISDIR(st.st_mode));
  info.set_size(S_ISREG(st.st_mode) ? st.st_size : 0);
  *info.mutable_modified_at() =
      to_timestamp(static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000 + st.st_mtim.tv_nsec / 1000);
  return info;
}

void list_into(int dir_fd, const CodebasePath& dir, bool recursive, layer::ListingBudget& budget,
               v1::ListFilesResponse& out) {
  for (const std::string& name : layer::list_names(dir_fd)) {
    if (!is_valid_utf8(name)) {
      // A proto3 string cannot carry it (gRPC clients fail to parse the whole response;
      // JSON would drop the bytes and list a different name), and no request could name
      // it back. It stays in the codebase, visible inside sandboxes; it and what lies
      // below it are left out here and logged.
      log::warn("codebase.name_not_listed",
                {{"path", escape_user_text(dir.child(name).display)}, {"why", "not valid UTF-8"}});
      continue;
    }
    const std::optional<struct stat> st = layer::stat_at(dir_fd, name);
    if (!st) continue;  // removed while we listed
    const CodebasePath path = dir.child(name);
    if (!budget.take(path.display.size())) return;
    *out.add_files() = file_info(path, *st);
    if (!recursive || !S_ISDIR(st->st_mode)) continue;
    const int child = ::openat(dir_fd, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (child < 0 && (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)) continue;  // raced
    UniqueFd child_fd(static_cast<int>(check_syscall(child, "open " + path.display)));
    list_into(child_fd.get(), path, recursive, budget, out);
  }
}

}  // namespace

void CodebaseStore::download(const std::string& codebase_id, const std::string& file_path,
                             const Emit<std::string>& emit) {
  const CodebasePath path = parse_codebase_path(file_path, false);
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
  UniqueFd root = open_root_dir(files_dir(codebase_id));
  UniqueFd dir_fd = open_dir_in_codebase(root.get(), dir, false);
  v1::ListFilesResponse out;
  layer::ListingBudget budget;
  list_into(dir_fd.get(), dir, recursive, budget, out);
  out.set_truncated(budget.spent());
  // Depth-first order is not path order ("/a/b" vs "/a-c"): sort the final list.
  std::sort(out.mutable_files()->begin(), out.mutable_files()->end(),
            [](const v1::FileInfo& a, const v1::FileInfo& b) { return a.path() < b.path(); });
  return out;
}

}  // namespace agentfense::store
