#include "fs/write_quota.h"

#include <algorithm>
#include <cerrno>
#include <limits>

namespace agentfense::fs {
namespace {

// Sizes cached before the cache is cleared: about 3 MB, however many files are written.
constexpr std::size_t kMaxCachedSizes = 65536;

// Usage never goes below zero, even if a count drifted (it is recounted after commits).
std::uint64_t minus(std::uint64_t a, std::uint64_t b) {
  return a > b ? a - b : 0;
}

}  // namespace

QuotaUsage WriteQuota::usage() const {
  std::lock_guard lock(mu_);
  return total();
}

QuotaUsage WriteQuota::total() const {
  if (!journal_) return used_;
  const layer::JournalCharge records = journal_->charge();
  return {used_.bytes + records.bytes, used_.inodes + records.names};
}

void WriteQuota::count_journal(const layer::Journal* journal) {
  std::lock_guard lock(mu_);
  journal_ = journal;
}

int WriteQuota::room_for_records(std::uint64_t bytes, std::uint64_t names) const {
  std::lock_guard lock(mu_);
  return bytes_fit(bytes) && names_fit(names) ? 0 : -ENOSPC;
}

void WriteQuota::reset(QuotaUsage usage) {
  std::lock_guard lock(mu_);
  used_ = usage;
  sizes_.clear();
}

WriteQuota::Reservation::~Reservation() {
  if (quota_) {
    std::lock_guard lock(quota_->mu_);
    quota_->used_.inodes = minus(quota_->used_.inodes, 1);
    quota_->used_.bytes = minus(quota_->used_.bytes, bytes_);
  }
}

void WriteQuota::Reservation::keep_file(ino_t ino, std::uint64_t size) {
  if (!quota_) return;
  std::lock_guard lock(quota_->mu_);
  quota_->used_.bytes = minus(quota_->used_.bytes, bytes_) + charge_of(size);
  quota_->cache_size(ino, size);
  quota_ = nullptr;
}

int WriteQuota::reserve(std::uint64_t bytes, Reservation* out, bool reuses_marker) {
  std::lock_guard lock(mu_);
  if (!names_fit(reuses_marker ? 0 : 1) || !bytes_fit(bytes)) return -ENOSPC;
  used_.inodes += 1;
  used_.bytes += bytes;
  out->quota_ = this;
  out->bytes_ = bytes;
  return 0;
}

std::uint64_t WriteQuota::max_end(std::uint64_t size) const {
  if (limits_.bytes == 0) return std::numeric_limits<std::uint64_t>::max();
  return charge_of(size) + minus(limits_.bytes, total().bytes) / kBlock * kBlock;
}

std::uint64_t* WriteQuota::size_of(ino_t ino, int fd, std::unique_lock<std::mutex>& lock,
                                   int* error) {
  if (auto it = sizes_.find(ino); it != sizes_.end()) return &it->second;
  lock.unlock();
  struct stat st;
  const int rc = ::fstat(fd, &st);
  const int saved = errno;
  lock.lock();
  if (rc < 0) {
    *error = saved;
    return nullptr;
  }
  // Another request may have cached it meanwhile; that one is at least as recent.
  if (auto it = sizes_.find(ino); it != sizes_.end()) return &it->second;
  cache_size(ino, static_cast<std::uint64_t>(st.st_size));
  return &sizes_.at(ino);
}

long WriteQuota::reserve_write(ino_t ino, int fd, off_t offset, size_t length) {
  std::unique_lock lock(mu_);
  int error = 0;
  std::uint64_t* size = size_of(ino, fd, lock, &error);
  if (!size) return -error;
  const std::uint64_t start = static_cast<std::uint64_t>(offset);
  std::uint64_t end = start + length;
  if (end > *size) {
    end = std::min(end, max_end(*size));
    if (end <= start) return length == 0 ? 0 : -ENOSPC;  // not one byte fits
    used_.bytes += charge_of(end) - charge_of(*size);
    *size = end;
  }
  return static_cast<long>(end - start);
}

int WriteQuota::resize(ino_t ino, int fd, std::uint64_t new_size) {
  std::unique_lock lock(mu_);
  int error = 0;
  std::uint64_t* size = size_of(ino, fd, lock, &error);
  if (!size) return -error;
  const std::uint64_t old_charge = charge_of(*size);
  const std::uint64_t new_charge = charge_of(new_size);
  if (new_charge > old_charge && !bytes_fit(new_charge - old_charge)) return -ENOSPC;
  used_.bytes = minus(used_.bytes, old_charge) + new_charge;
  *size = new_size;
  return 0;
}

void WriteQuota::settle(ino_t ino, std::uint64_t real_size) {
  std::lock_guard lock(mu_);
  if (auto it = sizes_.find(ino); it != sizes_.end()) {
    used_.bytes = minus(used_.bytes, charge_of(it->second)) + charge_of(real_size);
    it->second = real_size;
  }
}

void WriteQuota::note_size(ino_t ino, std::uint64_t size) {
  std::lock_guard lock(mu_);
  if (!sizes_.contains(ino)) cache_size(ino, size);
}

void WriteQuota::cache_size(ino_t ino, std::uint64_t size) {
  if (sizes_.size() >= kMaxCachedSizes) sizes_.clear();
  sizes_[ino] = size;
}

void WriteQuota::name_removed(const struct stat& before, bool still_open) {
  std::lock_guard lock(mu_);
  used_.inodes = minus(used_.inodes, 1);
  if (!S_ISREG(before.st_mode)) {
    used_.bytes = minus(used_.bytes, kEntryCharge);
    return;
  }
  if (before.st_nlink > 1 || still_open) return;  // the data is still on the disk
  // The cached size may be more recent than `before` (a write racing the unlink).
  auto it = sizes_.find(before.st_ino);
  const std::uint64_t size =
      it != sizes_.end() ? it->second : static_cast<std::uint64_t>(before.st_size);
  used_.bytes = minus(used_.bytes, charge_of(size));
  if (it != sizes_.end()) sizes_.erase(it);
}

void WriteQuota::file_closed(ino_t ino, std::uint64_t size) {
  std::lock_guard lock(mu_);
  auto it = sizes_.find(ino);
  used_.bytes = minus(used_.bytes, charge_of(it != sizes_.end() ? it->second : size));
  if (it != sizes_.end()) sizes_.erase(it);
}

}  // namespace agentfense::fs
