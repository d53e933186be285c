// Putting one upper entry into the base atomically: the new entry is fully built under
// a temporary name in the target directory, made durable, then renamed over the old one,
// so readers of the base see either the old or the new entry, never a partial file.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <optional>
#include <string>

#include "common/unique_fd.h"

namespace agentfense::layer {

// The permission bits a committed entry gets: the sandbox's bits without setuid/setgid,
// and without group/other write or the sticky bit unless the base entry (if any) already
// had them - the host gets plain permissions, never a world-writable file it did not have.
mode_t committed_mode(mode_t upper_mode, std::optional<mode_t> base_mode);

struct Installed {
  mode_t mode = 0;            // permission bits given to the base entry (committed_mode)
  mode_t requested_mode = 0;  // the upper entry's permission bits
};

// Makes `name` in `base_parent` a copy of `name` in `upper_parent` (regular file,
// symlink or directory; a directory is created or re-moded, never filled). Symlinks
// are copied as links, never dereferenced; other types are refused (SystemError).
// Replacing a directory by a non-directory (or the reverse) swaps them atomically with
// RENAME_EXCHANGE, then removes the old tree; callers check write on that tree first.
Installed install_entry(int upper_parent, int base_parent, const std::string& name);

// A regular file built under a temporary name in its base directory, not yet durable nor
// visible (stage_file). Many are made durable at once (sync_staged), then published:
// one flush for a whole batch instead of an fsync per file and per directory, which cost
// most of a large commit. Destroying an unpublished one removes its temporary entry.
class StagedFile {
 public:
  StagedFile(StagedFile&&) noexcept;
  StagedFile& operator=(StagedFile&&) = delete;
  StagedFile(const StagedFile&) = delete;
  ~StagedFile();

  const Installed& installed() const { return installed_; }
  int base_parent() const { return base_parent_.get(); }
  // Renames it over `name` (an existing non-directory is replaced atomically). Call
  // only after sync_staged() covered it; the caller makes the directory durable.
  void publish();

 private:
  friend std::optional<StagedFile> stage_file(int, int, const std::string&);
  StagedFile(UniqueFd base_parent, std::string name, std::string temp, Installed installed);
  UniqueFd base_parent_;
  std::string name_;
  std::string temp_;  // empty once published (or moved from)
  Installed installed_;
};

// Like install_entry for a regular file whose base entry is absent or not a directory;
// nullopt (nothing done) for any other case, which install_entry handles.
std::optional<StagedFile> stage_file(int upper_parent, int base_parent, const std::string& name);
// Makes every staged file on the file system of `base_fd` durable (one syncfs).
void sync_staged(int base_fd);
// fsync of a directory (its entries durable).
void sync_dir(int dir_fd);

// As root, gives `name` in `parent` the owner of the entry it replaces (`replaced`), else
// of `parent` itself, so that a commit by root (`sudo agentfense run --changes apply`, a
// root server serving a user's directory in place) leaves the user's files theirs and
// their new files in their directories theirs. Anyone else commits as themselves, as a
// native write would.
void inherit_owner(int parent, const std::string& name, const std::optional<struct stat>& replaced);

// Sets a directory's permission bits (exactly `mode & 07777`) without following a
// symlink at `name`.
void set_dir_mode(int parent_fd, const std::string& name, mode_t mode);

}  // namespace agentfense::layer
