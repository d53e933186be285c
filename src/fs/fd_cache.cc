#include "fs/fd_cache.h"

namespace agentfense::fs {

FdCache::Handle FdCache::find(fuse_ino_t id, bool need_write) {
  std::lock_guard lock(mu_);
  if (auto pin = pinned_.find(id); pin != pinned_.end()) {
    return need_write && !pin->second.second ? nullptr : pin->second.first;
  }
  auto it = entries_.find(id);
  if (it == entries_.end() || (need_write && !it->second.writable)) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second.lru_position);
  return it->second.fd;
}

void FdCache::insert(fuse_ino_t id, Handle fd, bool writable) {
  Handle evicted;  // closed after the lock is released
  std::lock_guard lock(mu_);
  if (auto it = entries_.find(id); it != entries_.end()) {
    lru_.erase(it->second.lru_position);
    entries_.erase(it);
  }
  lru_.push_front(id);
  entries_.emplace(id, Entry{std::move(fd), writable, lru_.begin()});
  if (entries_.size() > capacity_) {
    auto oldest = entries_.find(lru_.back());
    evicted = std::move(oldest->second.fd);
    entries_.erase(oldest);
    lru_.pop_back();
  }
}

void FdCache::erase(fuse_ino_t id) {
  Handle dropped, unpinned;
  std::lock_guard lock(mu_);
  if (auto pin = pinned_.find(id); pin != pinned_.end()) {
    unpinned = std::move(pin->second.first);
    pinned_.erase(pin);
  }
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  dropped = std::move(it->second.fd);
  lru_.erase(it->second.lru_position);
  entries_.erase(it);
}

void FdCache::pin(fuse_ino_t id, Handle fd, bool writable) {
  std::lock_guard lock(mu_);
  pinned_[id] = {std::move(fd), writable};
}

void FdCache::unpin(fuse_ino_t id) {
  Handle dropped;
  {
    std::lock_guard lock(mu_);
    auto it = pinned_.find(id);
    if (it == pinned_.end()) return;
    dropped = std::move(it->second.first);
    pinned_.erase(it);
  }
  unpinned_.notify_all();
}

void FdCache::wait_for_pins_below(std::size_t limit, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  unpinned_.wait_for(lock, timeout, [&] { return pinned_.size() < limit; });
}

}  // namespace agentfense::fs
