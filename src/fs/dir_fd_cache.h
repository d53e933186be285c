// The bounded set of directory fds kept open between requests (dir_handle.h). Nodes hold
// only weak references: an fd evicted here closes as soon as no request uses it, and the
// node reopens it on its next use. Eviction is second-chance (CLOCK): marking an entry
// used is a relaxed store on the hot path, never a lock.
#pragma once

#include <cstddef>
#include <list>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "fs/dir_handle.h"

namespace agentfense::fs {

class DirFdCache {
 public:
  explicit DirFdCache(std::size_t capacity) : capacity_(capacity < 1 ? 1 : capacity) {}
  DirFdCache(const DirFdCache&) = delete;
  DirFdCache& operator=(const DirFdCache&) = delete;

  // Keeps `fd` open; returns what was evicted so the caller closes it outside its locks.
  [[nodiscard]] std::vector<DirHandle> keep(DirHandle fd);
  // Stops keeping `fd` (its node is gone): a removed directory is freed on the host only
  // once its last fd closes, and freeing thousands at exit would stall the unmount.
  [[nodiscard]] DirHandle drop(const DirFd* fd);
  std::size_t size() const;
  std::size_t capacity() const { return capacity_; }

 private:
  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::list<DirHandle> ring_;  // oldest first
  std::unordered_map<const DirFd*, std::list<DirHandle>::iterator> where_;
};

}  // namespace agentfense::fs
