#include "server/sandbox_files.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/errors.h"
#include "common/unique_fd.h"
#include "layer/listing_walk.h"
#include "layer/safe_walk.h"
#include "server/proto_time.h"
#include "server/request_limits.h"
#include "server/sandbox_mount.h"

namespace agentfense::server {
namespace {

// ReadSandboxFile answers in one message; bigger files are for exec (`cat`, `tar`).
constexpr off_t kMaxReadBytes = 64 << 20;

ApiError not_found(const std::string& path) {
  return ApiError(StatusCode::NOT_FOUND, "no such file in the sandbox: " + escape_user_text(path),
                  kReasonFileNotFound);
}

ApiError denied(const std::string& path, const char* what) {
  return ApiError(
      StatusCode::PERMISSION_DENIED,
      "the sandbox's rules do not allow " + std::string(what) + " " + escape_user_text(path),
      kReasonPermissionDenied);
}

// `kind` says what the file is instead, when known ("a FIFO").
ApiError not_regular(const std::string& path, const std::string& kind) {
  return ApiError(
      StatusCode::INVALID_ARGUMENT,
      escape_user_text(path) + " is not a regular file" + (kind.empty() ? "" : " (" + kind + ")"),
      kReasonInvalidPath);
}

std::string kind_of(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "";
}

ApiError from_errno(int error, const std::string& path, const char* what) {
  switch (error) {
    case ENXIO:  // a non-blocking open of a socket, or of a FIFO for writing with no reader
      return not_regular(path, "a FIFO or a socket");
    case ENOENT:
    case ENOTDIR:
      return not_found(path);
    case EACCES:
    case EPERM:
    case EROFS:
      return denied(path, what);
    case ELOOP:
    case EXDEV:
      return ApiError(StatusCode::INVALID_ARGUMENT,
                      escape_user_text(path) + " goes through a symlink", kReasonInvalidPath);
    case EISDIR:
      return ApiError(StatusCode::INVALID_ARGUMENT, escape_user_text(path) + " is a directory",
                      kReasonInvalidPath);
    case ENAMETOOLONG:  // a name over NAME_MAX (255 bytes)
      return ApiError(StatusCode::INVALID_ARGUMENT,
                      escape_user_text(path) + " has a name longer than 255 bytes",
                      kReasonInvalidPath);
    case ENOSPC:
    case EDQUOT:
      return ApiError(StatusCode::RESOURCE_EXHAUSTED,
                      std::string(what) + " " + path +
                          ": the sandbox's write layer is full (resources.disk_bytes / "
                          "disk_inodes)",
                      kReasonQuotaExceeded);
    // The fs process died (or the sandbox is stopping): its mount answers ENOTCONN until
    // it is detached, and requests in flight when it died end ECANCELED (FUSE over
    // io_uring). The workspace is nothing but that mount, so these mean nothing else.
    case ENOTCONN:
    case ECONNABORTED:
    case ECONNREFUSED:
    case ECANCELED:
      return fs_not_answering(error);
    default:
      return ApiError(StatusCode::INTERNAL, std::string(what) + " " + escape_user_text(path) +
                                                ": " + std::strerror(error));
  }
}

// `path` is normalized ("/a/b"); "/" opens the workspace root itself.
UniqueFd open_in_workspace(int workspace_fd, const std::string& path, int flags, mode_t mode,
                           const char* what) {
  open_how how{};
  how.flags = static_cast<__u64>(flags | O_CLOEXEC);
  how.mode = flags & O_CREAT ? mode : 0;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  const std::string relative = path == "/" ? "." : path.substr(1);
  const long fd = ::syscall(SYS_openat2, workspace_fd, relative.c_str(), &how, sizeof how);
  if (fd < 0) throw from_errno(errno, path, what);
  return UniqueFd(static_cast<int>(fd));
}

// The agent decides what a path in its workspace is. A FIFO it made there would block
// open(2) until someone opens the other end - forever, holding a server thread, the FUSE
// mount and, for a write, the sandbox's command section. O_NONBLOCK makes every open
// return at once (ENXIO for a socket, or a FIFO to write with no reader); then anything
// but a regular file is refused, before any I/O. The flag is cleared for the I/O itself.
struct RegularFile {
  UniqueFd fd;
  struct stat st {};
};

RegularFile open_regular(int workspace_fd, const std::string& path, int flags, mode_t mode,
                         const char* what) {
  RegularFile file{open_in_workspace(workspace_fd, path, flags | O_NONBLOCK, mode, what)};
  const int fd = file.fd.get();
  if (::fstat(fd, &file.st) < 0) throw from_errno(errno, path, what);
  if (S_ISDIR(file.st.st_mode)) throw from_errno(EISDIR, path, what);
  if (!S_ISREG(file.st.st_mode)) throw not_regular(path, kind_of(file.st.st_mode));
  const int status = static_cast<int>(check_syscall(::fcntl(fd, F_GETFL), "fcntl " + path));
  check_syscall(::fcntl(fd, F_SETFL, status & ~O_NONBLOCK), "fcntl " + path);
  return file;
}

v1::Permission to_wire(policy::Level level) {
  static constexpr v1::Permission kLevels[] = {v1::PERMISSION_NONE, v1::PERMISSION_VIEW,
                                               v1::PERMISSION_READ, v1::PERMISSION_WRITE};
  return kLevels[static_cast<int>(level)];
}

v1::SandboxFileInfo info_of(const std::string& path, const struct stat& st,
                            const policy::Policy& policy) {
  v1::SandboxFileInfo info;
  info.set_path(path);
  info.set_name(path == "/" ? "" : path.substr(path.rfind('/') + 1));
  info.set_is_dir(S_ISDIR(st.st_mode));
  info.set_size(S_ISDIR(st.st_mode) ? 0 : st.st_size);
  *info.mutable_modified_at() = to_timestamp(std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec))));
  info.set_permission(to_wire(policy.decide(path, S_ISDIR(st.st_mode)).level));
  return info;
}

}  // namespace

std::string workspace_path(const std::string& raw, bool allow_root) {
  // One openat2 resolves at most PATH_MAX - 1 bytes: longer paths answered INTERNAL
  // ("File name too long") from deep inside.
  if (raw.size() > kMaxPathBytes) {
    throw ApiError(StatusCode::INVALID_ARGUMENT,
                   "path is " + std::to_string(raw.size()) + " bytes, longer than " +
                       std::to_string(kMaxPathBytes) + " (PATH_MAX - 1)",
                   kReasonInvalidPath);
  }
  std::string path;
  try {
    if (raw.find('\0') != std::string::npos) throw UserError("path contains a NUL byte");
    if (!is_valid_utf8(raw)) throw UserError("not valid UTF-8 (file names in the API are UTF-8)");
    path = policy::normalize_path(raw.empty() ? "/" : raw);
  } catch (const UserError& error) {
    throw ApiError(StatusCode::INVALID_ARGUMENT,
                   "bad path '" + escape_user_text(raw) + "': " + error.what(), kReasonInvalidPath);
  }
  if (path == "/" && !allow_root)
    throw ApiError(StatusCode::INVALID_ARGUMENT, "a file path is required", kReasonInvalidPath);
  return path;
}

v1::ReadSandboxFileResponse read_sandbox_file(int workspace_fd, const policy::Policy& policy,
                                              const std::string& path, MemoryBudget::Grant& grant) {
  const policy::Level level = policy.decide(path, false).level;
  if (level == policy::Level::kNone) throw not_found(path);
  if (level == policy::Level::kView) throw denied(path, "reading");
  const RegularFile file = open_regular(workspace_fd, path, O_RDONLY, 0, "reading");
  const UniqueFd& fd = file.fd;
  const struct stat& st = file.st;
  if (st.st_size > kMaxReadBytes)
    throw ApiError(StatusCode::FAILED_PRECONDITION,
                   path + " is larger than 64 MiB; read it with exec (cat, tar) instead");
  grant.hold(st.st_size);
  v1::ReadSandboxFileResponse out;
  std::string& content = *out.mutable_content();
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw from_errno(errno, path, "reading");
    if (n == 0) break;
    // A file growing as it is read holds more, a MiB at a time.
    if (static_cast<std::int64_t>(content.size()) + n > static_cast<std::int64_t>(st.st_size))
      grant.hold(static_cast<std::int64_t>(content.size()) + n + (1 << 20));
    content.append(buffer, static_cast<std::size_t>(n));
    // The size above is only what the file had at open: the agent may grow it while it
    // is read (by the gigabyte, with truncate), and the server would hold all of it.
    if (content.size() > static_cast<std::size_t>(kMaxReadBytes))
      throw ApiError(StatusCode::FAILED_PRECONDITION,
                     path + " grew past 64 MiB while it was read; read it with exec (cat, tar)");
  }
  *out.mutable_info() = info_of(path, st, policy);
  return out;
}

v1::SandboxFileInfo write_sandbox_file(int workspace_fd, const policy::Policy& policy,
                                       const std::string& path, const std::string& content) {
  // Hidden or not writable: refused the same way the agent's own write would be.
  if (policy.decide(path, false).level != policy::Level::kWrite) throw denied(path, "writing");
  const UniqueFd fd =
      open_regular(workspace_fd, path, O_WRONLY | O_CREAT | O_TRUNC, 0644, "writing").fd;
  std::size_t written = 0;
  while (written < content.size()) {
    const ssize_t n = ::write(fd.get(), content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw from_errno(errno, path, "writing");
    written += static_cast<std::size_t>(n);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) < 0) throw from_errno(errno, path, "writing");
  return info_of(path, st, policy);
}

v1::ListSandboxFilesResponse list_sandbox_files(const std::string& sandbox_id, int workspace_fd,
                                                const policy::Policy& policy,
                                                const std::string& path, bool recursive) {
  const UniqueFd dir = open_in_workspace(workspace_fd, path, O_PATH | O_DIRECTORY, 0, "listing");
  v1::ListSandboxFilesResponse out;
  layer::ListingBudget budget;
  layer::ListingWalk walk(recursive, budget, [&](const std::string& file, const struct stat& st) {
    *out.add_files() = info_of(file, st, policy);
  });
  try {
    walk.run(dir.get(), path);
  } catch (const SystemError& error) {
    throw from_errno(error.code(), walk.where(), "listing");
  }
  out.set_truncated(budget.spent());
  walk.log_unlisted("sandbox.names_not_listed", {{"sandbox_id", sandbox_id}});
  return out;
}

}  // namespace agentfense::server
