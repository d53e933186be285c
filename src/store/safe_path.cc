#include "store/safe_path.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "common/api_error.h"
#include "common/errors.h"
#include "common/text_safety.h"
#include "common/user_text.h"
#include "policy/reserved_names.h"

namespace agentfense::store {
namespace {

constexpr uint64_t kResolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
constexpr int kDirFlags = O_PATH | O_DIRECTORY | O_CLOEXEC;

std::string join_display(const std::vector<std::string>& segments) {
  if (segments.empty()) return "/";
  std::string out;
  for (const std::string& segment : segments) out += "/" + segment;
  return out;
}

}  // namespace

CodebasePath CodebasePath::parent() const {
  CodebasePath out{segments, {}};
  if (!out.segments.empty()) out.segments.pop_back();
  out.display = join_display(out.segments);
  return out;
}

CodebasePath CodebasePath::child(const std::string& name) const {
  CodebasePath out{segments, {}};
  out.segments.push_back(name);
  out.display = join_display(out.segments);
  return out;
}

void throw_invalid_path(std::string_view path, std::string_view why) {
  throw ApiError(StatusCode::INVALID_ARGUMENT,
                 "invalid path \"" + escape_user_text(path) + "\": " + std::string(why),
                 kReasonInvalidPath);
}

void refuse_reserved_names(const CodebasePath& path) {
  if (policy::names_reserved_entry(path.display)) {
    throw_invalid_path(path.display, "names starting with " +
                                         std::string(policy::kCommitTempPrefix) + " or " +
                                         std::string(policy::kStagingPrefix) +
                                         " are reserved for AgentFense's temporary files");
  }
}

CodebasePath parse_codebase_path(std::string_view path, bool allow_root) {
  if (path.find('\0') != std::string_view::npos) throw_invalid_path(path, "contains NUL");
  if (!is_valid_utf8(path))
    throw_invalid_path(path, "is not valid UTF-8 (file names in the API are UTF-8)");
  CodebasePath out;
  size_t pos = 0;
  while (pos <= path.size()) {
    const size_t slash = path.find('/', pos);
    const size_t end = slash == std::string_view::npos ? path.size() : slash;
    const std::string_view segment = path.substr(pos, end - pos);
    if (segment == "..") throw_invalid_path(path, "\"..\" is not allowed");
    if (segment.size() > NAME_MAX) throw_invalid_path(path, "a component is too long");
    if (!segment.empty() && segment != ".") out.segments.emplace_back(segment);
    pos = end + 1;
  }
  if (out.segments.empty() && !allow_root) throw_invalid_path(path, "names no file");
  out.display = join_display(out.segments);
  // What a path syscall takes (PATH_MAX with its NUL). Unbounded, one archive entry
  // 25,000 levels deep (219 bytes as tar.gz) made every walk of the store, one fd per
  // level, fail on the open-file limit: its staging tree stayed, and the server then
  // refused to start; a 60,000-level upload path held the store's lock for a minute.
  if (out.display.size() >= PATH_MAX)
    throw_invalid_path(path.substr(0, 100),
                       "is longer than " + std::to_string(PATH_MAX - 1) + " bytes");
  return out;
}

UniqueFd open_root_dir(const std::string& dir) {
  return UniqueFd(check_syscall(::open(dir.c_str(), kDirFlags), "open codebase directory " + dir));
}

int openat2_beneath(int dir_fd, const std::string& relative, int flags, mode_t mode) {
  open_how how{};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
  how.resolve = kResolve;
  for (int attempt = 0;; ++attempt) {
    const long fd = ::syscall(SYS_openat2, dir_fd, relative.c_str(), &how, sizeof(how));
    if (fd >= 0) return static_cast<int>(fd);
    // EAGAIN: a concurrent rename raced the in-root check; the kernel asks us to retry.
    if (errno == EAGAIN && attempt < 8) continue;
    return -errno;
  }
}

void throw_path_error(int err, const CodebasePath& path) {
  switch (err) {
    case ELOOP:
      throw_invalid_path(path.display, "goes through a symlink");
    case EXDEV:
      throw_invalid_path(path.display, "escapes the codebase");
    case ENOTDIR:
      throw_invalid_path(path.display, "a parent is not a directory");
    case EISDIR:
      throw_invalid_path(path.display, "is a directory");
    case ENAMETOOLONG:
      throw_invalid_path(path.display, "too long");
    case ENOENT:
      throw ApiError(StatusCode::NOT_FOUND, "file " + escape_user_text(path.display) + " not found",
                     kReasonFileNotFound);
    default:
      throw SystemError("open " + path.display, err);
  }
}

std::int64_t missing_dirs(int root_fd, const CodebasePath& path) {
  UniqueFd current(::openat(root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!current) return 0;
  for (std::size_t i = 0; i < path.segments.size(); ++i) {
    UniqueFd next(::openat(current.get(), path.segments[i].c_str(),
                           O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next) return errno == ENOENT ? static_cast<std::int64_t>(path.segments.size() - i) : 0;
    current = std::move(next);
  }
  return 0;
}

UniqueFd open_dir_in_codebase(int root_fd, const CodebasePath& path, bool create) {
  UniqueFd current(check_syscall(::openat(root_fd, ".", kDirFlags), "open codebase root"));
  CodebasePath walked;
  for (const std::string& segment : path.segments) {
    walked = walked.child(segment);
    int fd = openat2_beneath(current.get(), segment, kDirFlags);
    if (fd == -ENOENT && create) {
      if (::mkdirat(current.get(), segment.c_str(), 0755) != 0 && errno != EEXIST) {
        throw SystemError("mkdir " + walked.display, errno);
      }
      // Re-resolve rather than trust mkdirat: someone may have raced a symlink in.
      fd = openat2_beneath(current.get(), segment, kDirFlags);
    }
    if (fd < 0) throw_path_error(-fd, walked);
    current.reset(fd);
  }
  return current;
}

}  // namespace agentfense::store
