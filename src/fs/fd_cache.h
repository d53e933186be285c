// Bounded LRU of open file descriptors for READ/WRITE. The kernel is told not to send
// OPEN (see ops_table.cc), so data requests arrive with only a node id; opening the host
// file per request would be slow, and keeping one fd per known inode exceeds the open-file
// limit on large trees. Handles are shared_ptrs so eviction never closes an fd that a
// concurrent request is still using.
#pragma once

#include <fuse_lowlevel.h>
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "common/unique_fd.h"

namespace agentfense::fs {

// An open host file and its host inode number (the write quota's key for its size).
struct HostFile : UniqueFd {
  HostFile(UniqueFd fd, ino_t host_ino) : UniqueFd(std::move(fd)), ino(host_ino) {}
  ino_t ino;
};

class FdCache {
 public:
  using Handle = std::shared_ptr<const HostFile>;

  explicit FdCache(size_t capacity) : capacity_(capacity) {}
  size_t capacity() const { return capacity_; }
  FdCache(const FdCache&) = delete;
  FdCache& operator=(const FdCache&) = delete;

  // The cached fd of node `id`, if any and (when `need_write`) opened for writing.
  Handle find(fuse_ino_t id, bool need_write);
  void insert(fuse_ino_t id, Handle fd, bool writable);
  // The node's host file changed identity (copy-up, commit): drop the stale fd, pinned or not.
  void erase(fuse_ino_t id);
  // A file losing its last name may still be open in the agent, and this fd is then the
  // only way to its data: it is kept, outside the LRU, until the kernel forgets the node.
  void pin(fuse_ino_t id, Handle fd, bool writable);
  void unpin(fuse_ino_t id);
  // Waits up to `timeout` while `limit` or more fds are pinned. Pins end with the
  // kernel's FORGET, which comes through /dev/fuse while the requests that remove names
  // may come over io_uring much faster (uring_transport.h): without this back-pressure a
  // `rm -rf` of many files ran out of fds before the FORGETs caught up. Never waits
  // longer than `timeout` (a file the agent really keeps open stays pinned).
  void wait_for_pins_below(std::size_t limit, std::chrono::milliseconds timeout);

 private:
  struct Entry {
    Handle fd;
    bool writable;
    std::list<fuse_ino_t>::iterator lru_position;
  };

  const size_t capacity_;
  std::mutex mu_;
  std::list<fuse_ino_t> lru_;  // most recently used first
  std::unordered_map<fuse_ino_t, Entry> entries_;
  std::unordered_map<fuse_ino_t, std::pair<Handle, bool>> pinned_;  // fd, writable
  std::condition_variable unpinned_;
};

}  // namespace agentfense::fs
