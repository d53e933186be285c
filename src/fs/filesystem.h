// The state of one mounted sandbox view and the operations the FUSE handlers share:
// resolving a name through the layers, deciding visibility, presenting attributes,
// copy-up and the per-directory listing cache. Handlers live in ops_*.cc.
//
// Lock order of the whole fs (outermost first; a thread holding one lock may take only
// locks below it):
//   0. Filesystem::prefetcher_mu_  shared while a READ pushes its siblings (prefetch.h);
//                                  exclusive only to stop the prefetcher
//   1. Filesystem::layer_gate_     shared: data writes, host-file reads; exclusive:
//                                  commit, discard, refresh (see layer_gate())
//   2. Filesystem::mutation_mu_    every namespace change and copy-up
//   3. Filesystem::orphans_mu_     nameless upper files still open (takes FdCache::mu_)
//   4. InodeTable::mu_             no syscall under it but close() of dying fds
//   5. FdCache::mu_
//   6. leaves, never held while taking another lock: DirFdCache::mu_ (taken under
//      InodeTable::mu_), Journal::mu_, WriteQuota::mu_
//      (dropped around its fstat), audit::Recorder's queue, Filesystem::visible_mu_,
//      ControlServer::mu_, BaseNames::mu_.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "fs/access.h"
#include "fs/base_names.h"
#include "fs/fd_cache.h"
#include "fs/host_io.h"
#include "fs/inode_table.h"
#include "fs/kernel_channel.h"
#include "fs/mount.h"
#include "fs/presented_attr.h"
#include "fs/workspace_path.h"
#include "fs/write_quota.h"
#include "layer/journal.h"

namespace agentfense::fs {

// Long timeouts are safe: the base only changes through commits (which notify), and every
// other change passes through this daemon, which replies with fresh attributes.
inline constexpr double kCacheTimeoutSeconds = 3600.0;

// Requests the kernel should stop sending after our first ENOSYS; counted so tests can
// verify it really does.
struct RequestCounters {
  std::atomic<std::uint64_t> open{0};
  std::atomic<std::uint64_t> opendir{0};
  std::atomic<std::uint64_t> readdir{0};
  std::atomic<std::uint64_t> listing_builds{0};
  std::atomic<std::uint64_t> reads{0};
  std::atomic<std::uint64_t> prefetched_files{0};  // pushed into the page cache
  std::atomic<std::uint64_t> getattr{0};           // attributes the kernel did not hold (fresh)
  std::atomic<std::uint64_t> lookups{0};           // names the kernel did not hold, found or not
  std::atomic<std::uint64_t> getxattr{0};
  std::atomic<std::uint64_t> writes{0};
};

class Prefetcher;

// What records the opens the kernel reports outside the request path (fs/open_watch.h).
class OpenEventSource {
 public:
  // Records what the kernel has queued so far, if anything, before returning.
  virtual void drain_if_pending() = 0;

 protected:
  ~OpenEventSource() = default;
};

// Where a name resolved to on the host.
struct HostEntry {
  Layer layer = Layer::kBase;
  struct stat st {};
  bool base_dir_too = false;  // a directory present in both layers (merged)
};

class Filesystem {
 public:
  Filesystem(const MountOptions& options, std::unique_ptr<layer::Journal> journal,
             std::unique_ptr<audit::Recorder> audit);
  Filesystem(const Filesystem&) = delete;
  Filesystem& operator=(const Filesystem&) = delete;

  InodeTable& table() { return table_; }
  const Access& access() const { return access_; }
  FdCache& fds() { return fds_; }
  layer::Journal& journal() { return *journal_; }
  RequestCounters& counters() { return counters_; }
  WriteQuota& quota() { return quota_; }
  // Room for the journal records an operation is about to add, before it changes the
  // host: records mentioning `path` `records` times (Journal::record_bytes; `names` of
  // them whiteouts or opaque markers)
  // must fit in the write quota (journal.h JournalCharge) and on the disk
  // (Journal::reserve()). 0, or -ENOSPC / -errno.
  int reserve_records(std::string_view path, std::uint64_t records, std::uint64_t names);
  Owner owner() const { return {options_.owner_uid, options_.owner_gid}; }
  // Held by every operation that changes the namespace or copies up: they are rare
  // compared to reads, and serializing them keeps layer bookkeeping simple and correct.
  std::mutex& mutation_mu() { return mutation_mu_; }
  // Held shared by data writes into upper files (which take no mutation_mu() once the
  // file is in upper) and by the read-side operations that find a node's host file
  // (lookup, getattr, read, readdir, readlink, getxattr), and exclusively, outside
  // mutation_mu(), by the control requests that move or delete upper files (commit,
  // discard, refresh): a write can never land in an upper file after its content went
  // to the base, and a read never looks for a file in the layer it just left. Lock order:
  // see the top of this file.
  std::shared_mutex& layer_gate() { return layer_gate_; }
  int base_fd() const { return options_.base_dirfd; }
  // Bumped by commit, discard and refresh before their kernel invalidations go out, so
  // work that copied host content into the kernel can tell it may be stale (prefetch.h).
  std::uint64_t content_epoch() const { return content_epoch_.load(); }
  void bump_content_epoch() { ++content_epoch_; }
  // Runs `use` with the prefetcher, if prefetch is on and the session is not stopping.
  // set_prefetcher() returns only once no request uses the one it replaces: a request
  // thread of the io_uring transport may still be serving a READ while the session
  // stops, and used a destroyed prefetcher (SIGSEGV at stop, under a `grep -r`).
  template <typename Use>
  void with_prefetcher(Use&& use) {
    const std::shared_lock lock(prefetcher_mu_);
    if (prefetcher_) use(*prefetcher_);
  }
  void set_prefetcher(Prefetcher* prefetcher) {
    const std::unique_lock lock(prefetcher_mu_);
    prefetcher_ = prefetcher;
  }
  // What INIT agreed on beyond libfuse's own flags (kernel_channel.h).
  KernelFeatures& kernel_features() { return kernel_features_; }
  // Set while auditing: flush_open_events() before recording a rename or removal keeps
  // the trail in the order things happened (the file's open_write, then its rename),
  // however fast the rename's request arrives (uring_transport.h).
  void set_open_events(OpenEventSource* source) { open_events_.store(source); }
  void flush_open_events() {
    if (OpenEventSource* source = open_events_.load()) source->drain_if_pending();
  }

  int resolve(const NodeView& parent, const std::string& name, const std::string& path,
              HostEntry* out);
  // The base of directory node `dir` where a name the agent gave is looked up in it: -1
  // when it has none, or when it would find `name` under another spelling (a folded
  // letter case: layer/stored_names.h), so that the name answers as absent there.
  int base_for_name(const NodeView& dir, std::string_view name);
  // lstat of `name` in `dir`'s base as base_for_name() finds it (-ENOENT: not there).
  int stat_base(const NodeView& dir, const std::string& name, struct stat* st) {
    const int base = base_for_name(dir, name);
    return base >= 0 ? stat_at(base, name, st) : -ENOENT;
  }
  // Full lookup: resolve, decide, hide, register one kernel reference, fill `entry`.
  int lookup(const NodeView& parent, const std::string& name, fuse_entry_param* entry);
  // The kernel dropped `count` references; a node that is gone releases its fds (and the
  // quota of a file it kept open after its last name went).
  void forget(fuse_ino_t id, std::uint64_t count) {
    if (table_.forget(id, count)) close_forgotten(id);
  }
  // Removing a file's last name (unlink, rename over it) while the agent may still hold
  // it open: open_for_keeping() before the removal, keep_if_orphaned() after it pins the
  // fd when the node has no name left (fd_cache.h).
  struct KeptFile {
    FdCache::Handle fd;
    bool writable = false;
  };
  KeptFile open_for_keeping(const NodeView& file);
  // Holds a request that may orphan a file while a quarter of the fd cache's size is
  // already pinned by orphans the kernel has not forgotten yet (fd_cache.h), up to 100 ms.
  void wait_for_orphan_room() {
    fds_.wait_for_pins_below(std::max<std::size_t>(fds_.capacity() / 4, 16),
                             std::chrono::milliseconds(100));
  }
  // True when the fd was kept (the node has no name left).
  bool keep_if_orphaned(fuse_ino_t id, KeptFile kept);
  // A name in upper was removed on the host (unlink, rmdir, rename over it); `before` is
  // its lstat. `kept_node` (0: none) is the node keep_if_orphaned() kept the file open
  // for: a file's data stays charged until the kernel forgets that node.
  void upper_name_removed(const struct stat& before, fuse_ino_t kept_node);
  // A request refused for space (ENOSPC) right after a file's last name went may be
  // refused only for bytes about to come back: the kernel forgets the node when its last
  // reference goes, but the FORGET travels apart from other requests (over io_uring it
  // comes on /dev/fuse while writes come on the rings), so `rm big; dd ...` raced it.
  // Waits until a file kept charged in the last kRecentOrphan is forgotten or `until`
  // passes; true when one was (try again). A file kept longer is taken to be held open by
  // the agent: nothing waits for it, so a full sandbox stays quick to refuse. One request
  // waits at a time (it holds a request thread); the others are refused at once.
  bool wait_for_forgotten_orphan(std::chrono::steady_clock::time_point until);
  static constexpr std::chrono::milliseconds kRecentOrphan{2000};
  // How long one request waits at most for such a file (from its first refusal).
  static constexpr std::chrono::milliseconds kForgetWait{500};
  // Runs `attempt` (0, a count or -errno) again while it fails with ENOSPC and a file
  // removed moments ago gave its bytes back (above). Call it holding no lock above
  // orphans_mu_: `attempt` takes what it needs (a wait must hold no commit off).
  template <class Attempt>
  auto retry_when_bytes_come_back(Attempt attempt) {
    auto rc = attempt();
    if (rc != -ENOSPC) return rc;  // every write passes here: no clock read for those
    const auto until = std::chrono::steady_clock::now() + kForgetWait;
    while (rc == -ENOSPC && wait_for_forgotten_orphan(until)) rc = attempt();
    return rc;
  }
  // A commit or discard took away the upper file node `id` was bound to (it has no name
  // left): if the agent may still hold it open (an fd to it is cached), the fd is kept
  // and the file stays charged, as after an unlink, until the kernel forgets the node.
  // Without this, each discard handed the agent its whole quota again while the files
  // it kept open stayed on the host disk. Call recount_quota() after.
  void keep_if_open(fuse_ino_t id);
  // Counts upper afresh (commit and discard move or remove upper files); caller holds
  // the layer locks. On failure the old numbers stay and the error is logged.
  void recount_quota();
  // The node's presented attributes from a fresh host stat.
  int attr(const NodeView& node, struct stat* st);
  void fill_entry(const NodeView& node, const struct stat& presented, fuse_entry_param* entry);

  // The merged, policy-filtered children of `dir`, cached until invalidated; a readdir
  // continuing at offset > 0 keeps the listing it started with.
  int listing(const NodeView& dir, bool continuing, std::shared_ptr<const Listing>* out);
  // Name `name` was added to or removed from `dir` (empty: anything under `dir` may have
  // changed, e.g. after the base was refreshed).
  void changed_children(const NodeView& dir, std::string_view name);
  // Whether a known directory is still shown: one below view only while it holds a
  // visible descendant (visibility.cc). `dir` must be a view() with its fds open.
  bool still_shown(const NodeView& dir) {
    return visible(dir.path, true, dir.decision, dir.base_dir, dir.upper_dir);
  }
  // Whether directory `dir_path` (its layers' fds and merged, unfiltered entries given)
  // is empty as the agent sees it, i.e. lists as empty. Hidden entries do not count:
  // rmdir then leaves them in the base, untouched (a commit keeps them too), and the
  // answer never reveals that they exist.
  bool empty_for_agent(int base_dir, int upper_dir, const std::string& dir_path,
                       const std::vector<ListedEntry>& entries);

  // Layering (caller holds mutation_mu()).
  int ensure_upper_dir(const NodeView& dir, int* upper_fd);
  int copy_up(NodeView& file, bool keep_data);
  // A cached host fd for READ/WRITE; writing requires the node to be in upper already.
  int open_file(const NodeView& node, bool for_write, FdCache::Handle* out);

 private:
  // Whether a node at `path` is shown at all; a hidden-level directory is shown only when
  // it holds a visible descendant (visibility.cc: exact, cached per directory).
  bool visible(const std::string& path, bool is_dir, const policy::Decision& decision, int base_dir,
               int upper_dir);
  bool has_visible_descendant(int base_dir, int upper_dir, const std::string& path);
  // A lookup of an absent `path` that the rules would hide, whatever its type, is recorded
  // as the lookup of a present hidden one is: whether a line appears must depend on the
  // name alone, or the trail would tell which hidden paths exist (and a probe for
  // secrets that are not there would leave no trace).
  void record_hidden_probe(const std::string& path);
  bool scan_for_visible(int base_dir, int upper_dir, const std::string& path);
  // Notes on `dir`'s node that its base directory does not fold names (as of `epoch`).
  void mark_plain_base(const NodeView& dir, std::uint64_t epoch);
  // The live node already serving the upper host file `host` (a hard link looked up
  // under another name), if it may serve `path` too.
  std::optional<NodeView> same_host_file(const std::string& path, const policy::Decision& decision,
                                         const struct stat& host);
  void close_forgotten(fuse_ino_t id);
  // Bytes of the files kept open after their last name went (they are not in upper).
  std::uint64_t orphan_bytes();

  MountOptions options_;
  std::unique_ptr<layer::Journal> journal_;
  std::unique_ptr<audit::Recorder> audit_;
  Access access_;
  InodeTable table_;
  FdCache fds_;
  WriteQuota quota_;
  std::mutex orphans_mu_;
  // Nodes keeping a nameless upper file charged, with when they began to.
  std::unordered_map<fuse_ino_t, std::chrono::steady_clock::time_point> orphans_;
  std::uint64_t orphans_forgotten_ = 0;  // under orphans_mu_: counts close_forgotten()s
  bool orphan_waiter_ = false;           // under orphans_mu_: a request waits for one
  std::condition_variable orphan_forgotten_;
  RequestCounters counters_;
  std::shared_mutex layer_gate_;
  std::atomic<std::uint64_t> content_epoch_{0};
  std::shared_mutex prefetcher_mu_;  // before layer_gate_: a push takes the gate per file
  Prefetcher* prefetcher_ = nullptr;
  KernelFeatures kernel_features_;
  std::atomic<OpenEventSource*> open_events_{nullptr};
  std::mutex mutation_mu_;
  BaseNames base_names_;
  std::mutex visible_mu_;
  // Per hidden-level directory path: whether it holds a visible descendant. Ordered, so
  // that a subtree's answers can be dropped at once.
  std::map<std::string, bool> visible_below_;
  std::uint64_t visible_generation_ = 0;  // bumped by every change (see visibility.cc)
};

}  // namespace agentfense::fs
