// The write-layer quota of one sandbox: how much of the host disk its upper layer may
// take, so an agent that writes without end (`dd if=/dev/zero ...`, a flood of empty
// files) gets ENOSPC inside the sandbox instead of filling the host.
//
// What is counted (docs/security.md "Disk"):
//  * bytes: every regular file at its apparent size (st_size) rounded up to a 4 KiB block,
//    holes included, so a sparse file is charged as if written out; every directory,
//    symlink, fifo and socket one block. A file with several names (hard links) is
//    charged once. A file whose last name was removed while the agent still holds it
//    open stays charged until the kernel forgets it (its data is still on the disk).
//  * inodes: every name in the upper layer (a hard link is one more name).
//  * the journal's records (layer/journal.h JournalCharge): their bytes, and one name per
//    whiteout and opaque marker, so deleting base files costs quota as writing does.
// The base (the codebase) is not counted.
//
// The journal's charge is its own (kept by the journal as records come and go, counted by
// its replay at mount). Usage of upper starts from one walk of upper at mount and after
// commit/discard (which move or remove upper files); in between every operation adjusts it in
// memory. Data writes add no syscall: the size of each file being written is cached here (learned
// from the fstat the fd cache does anyway when it opens the file).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "fs/quota_limits.h"
#include "layer/journal.h"

namespace agentfense::fs {

struct QuotaUsage {
  std::uint64_t bytes = 0;
  std::uint64_t inodes = 0;
};

class WriteQuota {
 public:
  static constexpr std::uint64_t kBlock = 4096;
  // What a regular file of `size` bytes is charged.
  static std::uint64_t charge_of(std::uint64_t size) {
    return (size + kBlock - 1) / kBlock * kBlock;
  }
  // What a non-regular entry (directory, symlink, fifo, socket) is charged.
  static constexpr std::uint64_t kEntryCharge = kBlock;

  explicit WriteQuota(QuotaLimits limits) : limits_(limits) {}
  WriteQuota(const WriteQuota&) = delete;
  WriteQuota& operator=(const WriteQuota&) = delete;

  const QuotaLimits& limits() const { return limits_; }
  // Upper plus the journal's records.
  QuotaUsage usage() const;
  // Replaces the usage of upper with a fresh count (quota_walk.h) and forgets cached
  // file sizes.
  void reset(QuotaUsage usage);
  // Charges `journal`'s records too from now on; it must outlive this quota.
  void count_journal(const layer::Journal* journal);
  // Room for journal records of about `bytes` holding `names` whiteouts or opaque
  // markers: 0, or -ENOSPC when they do not fit. Nothing is taken: the journal charges
  // them once they are held (the namespace lock keeps operations from racing for it).
  int room_for_records(std::uint64_t bytes, std::uint64_t names) const;

  // Room for one new name plus `bytes`, taken before the entry is created on the host and
  // given back by the destructor unless keep() is called once it exists.
  class Reservation {
   public:
    Reservation() = default;
    Reservation(const Reservation&) = delete;
    Reservation& operator=(const Reservation&) = delete;
    ~Reservation();
    // The entry exists: its charge stays.
    void keep() { quota_ = nullptr; }
    // The entry is the regular file `ino` of `size` bytes (at most what was reserved).
    void keep_file(ino_t ino, std::uint64_t size);

   private:
    friend class WriteQuota;
    WriteQuota* quota_ = nullptr;
    std::uint64_t bytes_ = 0;
  };
  // 0, or -ENOSPC when the name or the bytes do not fit. `reuses_marker`: the entry takes
  // the place of a whiteout, whose name goes back once it exists, so no name is needed.
  int reserve(std::uint64_t bytes, Reservation* out, bool reuses_marker = false);

  // Regular files in upper, by host inode number `ino`, open as `fd` (fstat'ed only when
  // the file's size is not cached).
  // A write of `length` bytes at `offset`: how many fit (`length`, fewer when the write
  // must be shortened as on a full disk, -ENOSPC when not one byte fits, or -errno). The
  // file's size is raised to the end of what fits before the write is made.
  long reserve_write(ino_t ino, int fd, off_t offset, size_t length);
  // The file will be `new_size` bytes (truncate, fallocate): 0, or -ENOSPC when growing to
  // it does not fit. Shrinking always fits.
  int resize(ino_t ino, int fd, std::uint64_t new_size);
  // The file's real size after an operation that may have changed it by another amount
  // than reserved (a failed or short write, fallocate).
  void settle(ino_t ino, std::uint64_t real_size);
  // A file whose size the caller just learned (the fd cache opened it for writing).
  void note_size(ino_t ino, std::uint64_t size);

  // A name left upper; `before` is its lstat. For a regular file's last name the data is
  // freed too unless `still_open` (then call file_closed() when the kernel forgets it).
  void name_removed(const struct stat& before, bool still_open);
  // A file kept open after its last name went is finally closed.
  void file_closed(ino_t ino, std::uint64_t size);

 private:
  // Requires mu_: the cached size of `ino`, learning it with fstat(fd) (mu_ is released
  // meanwhile) when it is not cached. nullptr with *error set when fstat fails.
  std::uint64_t* size_of(ino_t ino, int fd, std::unique_lock<std::mutex>& lock, int* error);
  // Requires mu_. Caches the size; clears the cache when it grows too large (a size is
  // re-learned with one fstat), so memory stays bounded however many files are written.
  void cache_size(ino_t ino, std::uint64_t size);
  // Requires mu_: upper plus the journal's records.
  QuotaUsage total() const;
  bool bytes_fit(std::uint64_t more) const {
    const std::uint64_t used = total().bytes;
    return limits_.bytes == 0 || (used <= limits_.bytes && more <= limits_.bytes - used);
  }
  bool names_fit(std::uint64_t more) const {
    const std::uint64_t used = total().inodes;
    return limits_.inodes == 0 || (used <= limits_.inodes && more <= limits_.inodes - used);
  }
  // The largest end offset a file charged for `size` bytes may grow to: its current
  // charge plus what is left, in whole blocks.
  std::uint64_t max_end(std::uint64_t size) const;
  void give_back(std::uint64_t bytes);

  const QuotaLimits limits_;
  mutable std::mutex mu_;
  QuotaUsage used_;  // by upper
  const layer::Journal* journal_ = nullptr;
  std::unordered_map<ino_t, std::uint64_t> sizes_;
};

}  // namespace agentfense::fs
