#include "fs/dir_fd_cache.h"

namespace agentfense::fs {

std::vector<DirHandle> DirFdCache::keep(DirHandle fd) {
  std::vector<DirHandle> evicted;
  if (!fd) return evicted;
  const std::lock_guard lock(mu_);
  if (where_.contains(fd.get())) return evicted;
  const DirFd* key = fd.get();
  ring_.push_back(std::move(fd));
  where_[key] = std::prev(ring_.end());
  // Each used entry is passed over once (its bit cleared), so this ends within two
  // rounds of the ring.
  while (ring_.size() > capacity_) {
    auto oldest = ring_.begin();
    if ((*oldest)->used.exchange(false, std::memory_order_relaxed)) {
      ring_.splice(ring_.end(), ring_, oldest);
      continue;
    }
    where_.erase(oldest->get());
    evicted.push_back(std::move(*oldest));
    ring_.erase(oldest);
  }
  return evicted;
}

DirHandle DirFdCache::drop(const DirFd* fd) {
  const std::lock_guard lock(mu_);
  const auto it = where_.find(fd);
  if (it == where_.end()) return nullptr;
  DirHandle dropped = std::move(*it->second);
  ring_.erase(it->second);
  where_.erase(it);
  return dropped;
}

std::size_t DirFdCache::size() const {
  const std::lock_guard lock(mu_);
  return ring_.size();
}

}  // namespace agentfense::fs
