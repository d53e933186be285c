#include "layer/stored_names.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/vfs.h>

#include <cerrno>

#include "common/dir_stream.h"
#include "common/unique_fd.h"

namespace agentfense::layer {
namespace {

// statfs f_type values (linux/magic.h; not every one is in older headers).
constexpr unsigned long kExt4 = 0xEF53;  // ext2/3/4
constexpr unsigned long kTmpfs = 0x01021994;
constexpr unsigned long kF2fs = 0xF2F52010;
constexpr unsigned long kOverlay = 0x794C7630;
constexpr unsigned long kXfs = 0x58465342;
constexpr unsigned long kBtrfs = 0x9123683E;
constexpr unsigned long kRamfs = 0x858458F6;
constexpr unsigned long kSquashfs = 0x73717368;
constexpr unsigned long kErofs = 0xE0F5E1E2;

#ifndef FS_CASEFOLD_FL
#define FS_CASEFOLD_FL 0x40000000
#endif

}  // namespace

Folding folding_of(int dir) {
  struct statfs fs {};
  if (::fstatfs(dir, &fs) < 0) return Folding::kAlways;
  switch (static_cast<unsigned long>(fs.f_type)) {
    case kXfs:
    case kBtrfs:
    case kRamfs:
    case kSquashfs:
    case kErofs:
      return Folding::kNever;
    case kExt4:
    case kTmpfs:
    case kF2fs:
    case kOverlay:
      return Folding::kIfFlagged;
    default:
      return Folding::kAlways;
  }
}

// The flag is per directory (set on an empty one, inherited by new subdirectories), so
// it is asked of each. FS_IOC_GETFLAGS needs a real open; an O_PATH fd is not enough.
bool casefold_flagged(int dir) {
  const UniqueFd readable(::openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  return !readable || readable_dir_flagged(readable.get());
}

bool readable_dir_flagged(int readable_dir) {
  int flags = 0;
  if (::ioctl(readable_dir, FS_IOC_GETFLAGS, &flags) < 0) {
    // No flags at all (an old tmpfs): no casefold either.
    return errno != ENOTTY && errno != EOPNOTSUPP && errno != EINVAL;
  }
  return (flags & FS_CASEFOLD_FL) != 0;
}

bool may_fold_names(int dir) {
  switch (folding_of(dir)) {
    case Folding::kNever:
      return false;
    case Folding::kIfFlagged:
      return casefold_flagged(dir);
    case Folding::kAlways:
      break;
  }
  return true;
}

StoredNames::StoredNames(int dir, bool folds) : folds_(folds) {
  if (!folds_) return;
  DirStream stream(dir);
  if (!stream) return;
  // A listing cut short by an error admits fewer names, never a name it does not store.
  while (const dirent* entry = stream.next()) names_.emplace(entry->d_name);
}

}  // namespace agentfense::layer
