// Read-ahead across files. On a fresh mount every file's first read is a daemon round
// trip (about 35 us on this 2-core VM, most of it two cross-CPU wake-ups), which made a
// first `grep -r` 7-10x native. Programs that read one file of a directory nearly always
// read the files listed after it next (grep, tar, git hashing, compilers). So a READ at
// offset 0 that reaches the daemon (a page-cache miss) first pushes the next few small
// siblings, in listing order, into the kernel's page cache with notify_store, then
// replies: the program finds them cached and sends no READ for them. The next miss, at
// the end of that batch, pushes the next batch: sequential read-ahead across files.
//
// Pushing before replying keeps the reader from racing the push for the same pages. A
// push can wait on a page lock held by another process's READ in flight, which needs a
// free request thread: at most kMaxPushers threads push at once, far below the loop's
// thread limit, so that READ is always served.
//
// Only files the agent can never change through this mount are pushed: level `read`,
// still in the base layer (which only commits and refreshes change). A pushed page can
// therefore never overwrite data a write put in the page cache. Commits and refreshes
// bump Filesystem::content_epoch() before they send their invalidations; a push that saw
// the epoch change while it worked invalidates what it stored, so stale content never
// outlives the layer change. Only nodes the kernel already holds are pushed (no lookup
// references are taken), never a name the kernel has not been shown.
#pragma once

#include <fuse_lowlevel.h>

#include <atomic>
#include <string>
#include <vector>

#include "fs/filesystem.h"

namespace agentfense::fs {

class Prefetcher {
 public:
  explicit Prefetcher(fuse_session* session) : session_(session) {}
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  // A READ at offset 0 of `file` missed the page cache: push the siblings listed after
  // it. Called before the READ is answered, without the layer gate held.
  void file_read(Filesystem& fs, const NodeView& file);

 private:
  // Reads `path`'s whole content into *out when it is eligible; its node id, or 0.
  static fuse_ino_t load(Filesystem& fs, const std::string& path, std::size_t budget,
                         std::vector<char>* out);

  fuse_session* session_;
  std::atomic<int> pushers_{0};
};

}  // namespace agentfense::fs
