#include "layer/file_install.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>
#include <vector>

#include "common/copy_bytes.h"
#include "common/errors.h"
#include "common/random_hex.h"
#include "layer/entry_io.h"
#include "layer/safe_walk.h"
#include "policy/reserved_names.h"

namespace agentfense::layer {
namespace {

std::string temp_name() {
  // Beside its target until renamed into place; no sandbox sees it (reserved_names.h).
  return std::string(policy::kCommitTempPrefix) + random_hex(8);
}

// Removes the temporary entry unless it was renamed into place.
class TempEntry {
 public:
  TempEntry(int dir_fd, std::string name) : dir_fd_(dir_fd), name_(std::move(name)) {}
  TempEntry(const TempEntry&) = delete;
  TempEntry& operator=(const TempEntry&) = delete;
  ~TempEntry() {
    if (armed_) {
      try {
        remove_tree_at(dir_fd_, name_);
      } catch (const SystemError&) {
        // Best effort while unwinding: a leftover ".agentfense-commit-*" is harmless.
      }
    }
  }
  const std::string& name() const { return name_; }
  void disarm() { armed_ = false; }

 private:
  int dir_fd_;
  std::string name_;
  bool armed_ = true;
};

void build_file(int upper_parent, const std::string& name, const struct stat& st, mode_t mode,
                int base_parent, const std::string& temp, bool durable = true) {
  UniqueFd source = open_file_for_read(upper_parent, name);
  UniqueFd target(
      check_syscall(::openat(base_parent, temp.c_str(),
                             O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600),
                    "create " + temp));
  if (int rc = copy_bytes(source.get(), target.get())) throw SystemError("copy into " + temp, -rc);
  check_syscall(::fchmod(target.get(), mode), "chmod " + temp);
  const struct timespec times[2] = {{0, UTIME_OMIT}, st.st_mtim};
  check_syscall(::futimens(target.get(), times), "set mtime " + temp);
  // Durable before it becomes visible: a crash never leaves an empty committed file.
  // (A staged file is made durable with its batch: sync_staged.)
  if (durable) check_syscall(::fsync(target.get()), "fsync " + temp);
}

void build_entry(int upper_parent, const std::string& name, const struct stat& st, mode_t mode,
                 int base_parent, const std::string& temp) {
  switch (type_char(st.st_mode)) {
    case 'f':
      build_file(upper_parent, name, st, mode, base_parent, temp);
      return;
    case 'l':
      check_syscall(
          ::symlinkat(read_link_at(upper_parent, name).c_str(), base_parent, temp.c_str()),
          "symlink " + temp);
      return;
    case 'd':
      check_syscall(::mkdirat(base_parent, temp.c_str(), 0700), "mkdir " + temp);
      set_dir_mode(base_parent, temp, mode);
      return;
    default:
      throw SystemError("commit " + name + ": unsupported file type", EINVAL);
  }
}

Installed install_mode(const struct stat& upper_st, const std::optional<struct stat>& base_st) {
  // Symlink permission bits mean nothing; a replaced entry of another type passes on none.
  const bool same_type = base_st && (base_st->st_mode & S_IFMT) == (upper_st.st_mode & S_IFMT);
  if (S_ISLNK(upper_st.st_mode)) return Installed{};
  return Installed{
      committed_mode(upper_st.st_mode, same_type ? std::optional(base_st->st_mode) : std::nullopt),
      static_cast<mode_t>(upper_st.st_mode & 07777)};
}

}  // namespace

void sync_dir(int dir_fd) {
  UniqueFd readable = reopen_dir(dir_fd);
  check_syscall(::fsync(readable.get()), "fsync directory");
}

void sync_staged(int base_fd) {
  UniqueFd readable = reopen_dir(base_fd);  // syncfs refuses an O_PATH fd
  check_syscall(::syncfs(readable.get()), "syncfs");
}

StagedFile::StagedFile(UniqueFd base_parent, std::string name, std::string temp,
                       Installed installed)
    : base_parent_(std::move(base_parent)),
      name_(std::move(name)),
      temp_(std::move(temp)),
      installed_(installed) {}

StagedFile::StagedFile(StagedFile&& other) noexcept
    : base_parent_(std::move(other.base_parent_)),
      name_(std::move(other.name_)),
      temp_(std::exchange(other.temp_, std::string())),
      installed_(other.installed_) {}

StagedFile::~StagedFile() {
  if (temp_.empty()) return;
  try {
    remove_tree_at(base_parent_.get(), temp_);
  } catch (const SystemError&) {
    // Best effort: a leftover ".agentfense-commit-*" is harmless.
  }
}

void StagedFile::publish() {
  check_syscall(::renameat(base_parent_.get(), temp_.c_str(), base_parent_.get(), name_.c_str()),
                "rename into place " + name_);
  temp_.clear();
}

std::optional<StagedFile> stage_file(int upper_parent, int base_parent, const std::string& name) {
  const std::optional<struct stat> upper_st = stat_at(upper_parent, name);
  if (!upper_st || !S_ISREG(upper_st->st_mode)) return std::nullopt;
  const std::optional<struct stat> base_st = stat_at(base_parent, name);
  if (base_st && S_ISDIR(base_st->st_mode)) return std::nullopt;
  const Installed installed = install_mode(*upper_st, base_st);
  UniqueFd parent(check_syscall(::fcntl(base_parent, F_DUPFD_CLOEXEC, 3), "dup"));
  StagedFile staged(std::move(parent), name, temp_name(), installed);
  build_file(upper_parent, name, *upper_st, installed.mode, base_parent, staged.temp_, false);
  inherit_owner(base_parent, staged.temp_, base_st);
  return staged;
}

mode_t committed_mode(mode_t upper_mode, std::optional<mode_t> base_mode) {
  const mode_t inherited = base_mode ? (*base_mode & (S_IWGRP | S_IWOTH | S_ISVTX)) : 0;
  return upper_mode & (0755 | inherited);
}

void inherit_owner(int parent, const std::string& name,
                   const std::optional<struct stat>& replaced) {
  if (::geteuid() != 0) return;
  struct stat owner {};
  if (replaced)
    owner = *replaced;
  else
    check_syscall(::fstat(parent, &owner), "stat the directory of " + name);
  // The entry was made with no setuid/setgid bits (committed_mode), so chown clears none.
  check_syscall(::fchownat(parent, name.c_str(), owner.st_uid, owner.st_gid, AT_SYMLINK_NOFOLLOW),
                "chown " + name);
}

void set_dir_mode(int parent_fd, const std::string& name, mode_t mode) {
  UniqueFd dir(check_syscall(
      ::openat(parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC),
      "open " + name));
  check_syscall(::fchmod(dir.get(), mode & 07777), "chmod " + name);
}

Installed install_entry(int upper_parent, int base_parent, const std::string& name) {
  const std::optional<struct stat> upper_st = stat_at(upper_parent, name);
  if (!upper_st) throw SystemError("commit " + name + ": gone from upper", ENOENT);
  const std::optional<struct stat> base_st = stat_at(base_parent, name);
  const bool new_is_dir = S_ISDIR(upper_st->st_mode);
  const bool old_is_dir = base_st && S_ISDIR(base_st->st_mode);
  const Installed installed = install_mode(*upper_st, base_st);

  if (new_is_dir && old_is_dir) {
    set_dir_mode(base_parent, name, installed.mode);
    return installed;
  }
  TempEntry temp(base_parent, temp_name());
  build_entry(upper_parent, name, *upper_st, installed.mode, base_parent, temp.name());
  inherit_owner(base_parent, temp.name(), base_st);
  if (base_st && new_is_dir != old_is_dir) {
    // rename(2) cannot replace a directory by a file or vice versa; exchanging keeps
    // the switch atomic, and the old entry is then removed under the temp name.
    check_syscall(
        ::renameat2(base_parent, temp.name().c_str(), base_parent, name.c_str(), RENAME_EXCHANGE),
        "exchange " + name);
  } else {
    check_syscall(::renameat(base_parent, temp.name().c_str(), base_parent, name.c_str()),
                  "rename into place " + name);
    temp.disarm();
  }
  sync_dir(base_parent);
  return installed;
}

}  // namespace agentfense::layer
