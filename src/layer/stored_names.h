// Names as a directory stores them. On a case-insensitive file system (ext4/f2fs/tmpfs
// casefold directories, vfat, exfat, ntfs3, SMB/CIFS, WSL's drvfs over 9p, a FUSE or
// virtiofs export of one of these) a lookup of `.ENV` finds the entry stored as `.env`
// (likewise SMB's `name.` for `name` and vfat's 8.3 alias `SERVER~1.PEM`). The rules
// judge the name asked for, so such a directory may serve a name only when it stores
// that name byte for byte: otherwise a hidden `.env` is read, and committed over, as
// `.ENV`. Whether a directory may fold names is learned from its file system, never from
// the name asked for.
#pragma once

#include <string>
#include <string_view>
#include <unordered_set>

namespace agentfense::layer {

// Whether the directories of a file system may resolve a name to an entry stored under
// another one: never (xfs, btrfs, ...), only those flagged casefold (ext4, f2fs, tmpfs,
// overlayfs over them), or any of them (vfat, cifs, 9p, FUSE, NFS, zfs, anything else).
enum class Folding { kNever, kIfFlagged, kAlways };
// The file system of `dir` (any fd, O_PATH too); kAlways when it cannot be asked.
Folding folding_of(int dir);
// Whether `dir` (an O_PATH fd will do: it is opened again to ask) carries the casefold
// flag; true when that cannot be asked. `readable_dir_flagged` asks a directory fd
// opened for reading (a listing's), saving the open.
bool casefold_flagged(int dir);
bool readable_dir_flagged(int readable_dir);
// Both of the above: whether `dir` may resolve a name to an entry stored under another.
bool may_fold_names(int dir);

// The names one directory stores, read once when it may fold names.
class StoredNames {
 public:
  // Lists `dir` if may_fold_names(dir); an unreadable one then stores no name at all
  // (nothing in it is served: failing closed).
  explicit StoredNames(int dir) : StoredNames(dir, may_fold_names(dir)) {}
  // Where the caller knows already whether `dir` may fold names.
  StoredNames(int dir, bool folds);
  bool folds() const { return folds_; }
  // Whether a lookup of `name` in the directory may be answered: the directory does not
  // fold names, or stores `name` exactly. A name it does not store answers as absent.
  bool admits(std::string_view name) const { return !folds_ || names_.contains(std::string(name)); }

 private:
  bool folds_ = false;
  std::unordered_set<std::string> names_;
};

}  // namespace agentfense::layer
