#include "fs/filesystem.h"

#include <fcntl.h>
#include <sys/resource.h>

#include <algorithm>

#include "common/errors.h"
#include "common/log.h"
#include "fs/host_io.h"
#include "fs/merged_dir.h"
#include "fs/quota_walk.h"
#include "layer/safe_walk.h"

namespace agentfense::fs {
namespace {

using policy::Level;

size_t open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) < 0) return 1024;
  return limit.rlim_cur;
}

// A quarter of the open-file limit (at most 256) is kept for fds held by requests in
// flight (up to 16 libfuse and 3 io_uring threads per CPU at once), the listing streams,
// the io_uring instances and the audit and control machinery; of the rest, half for
// cached file fds and a quarter for directory fds (however many directories there are).
size_t usable_fds() {
  const size_t limit = open_file_limit();
  return limit - std::min<size_t>(limit / 4, 256);
}
size_t fd_cache_capacity() {
  return std::clamp<size_t>(usable_fds() / 2, 64, 8192);
}
size_t dir_fd_capacity() {
  return std::clamp<size_t>(usable_fds() / 4, 16, 4096);
}

DirHandle dup_dir(int fd) {
  DirHandle dir = make_dir_handle(UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 3)));
  if (!dir) throw SystemError("open a layer root", errno);
  return dir;
}

}  // namespace

Filesystem::Filesystem(const MountOptions& options, std::unique_ptr<layer::Journal> journal,
                       std::unique_ptr<audit::Recorder> audit)
    : options_(options),
      journal_(std::move(journal)),
      audit_(std::move(audit)),
      access_(*options.policy, audit_.get()),
      table_(dup_dir(options.base_dirfd), dup_dir(journal_->upper_fd()),
             options.policy->decide("/", true), dir_fd_capacity()),
      fds_(fd_cache_capacity()),
      quota_(options.quota) {
  quota_.reset(count_upper(journal_->upper_fd()));  // throws: a mount must start counted
  quota_.count_journal(journal_.get());  // replayed by Journal::open: counted as it stands
}

int Filesystem::reserve_records(std::string_view path, std::uint64_t records, std::uint64_t names) {
  if (int rc = quota_.room_for_records(records * layer::Journal::record_bytes(path), names)) {
    return rc;
  }
  return journal_->reserve();
}

void Filesystem::recount_quota() {
  try {
    QuotaUsage usage = count_upper(journal_->upper_fd());
    usage.bytes += orphan_bytes();
    quota_.reset(usage);
  } catch (const std::exception& error) {
    log::warn("fs.quota_recount_failed", {{"error", error.what()}});
  }
}

std::uint64_t Filesystem::orphan_bytes() {
  std::lock_guard lock(orphans_mu_);
  std::uint64_t bytes = 0;
  for (const auto& [id, kept_since] : orphans_) {
    struct stat st;
    if (FdCache::Handle fd = fds_.find(id, false); fd && ::fstat(fd->get(), &st) == 0) {
      bytes += WriteQuota::charge_of(static_cast<std::uint64_t>(st.st_size));
    }
  }
  return bytes;
}

void Filesystem::upper_name_removed(const struct stat& before, fuse_ino_t kept_node) {
  const bool last_name_of_file = S_ISREG(before.st_mode) && before.st_nlink <= 1;
  const bool still_open = last_name_of_file && kept_node != 0;
  if (still_open) {
    std::lock_guard lock(orphans_mu_);
    orphans_.try_emplace(kept_node, std::chrono::steady_clock::now());
  }
  quota_.name_removed(before, still_open);
}

void Filesystem::close_forgotten(fuse_ino_t id) {
  bool orphan = false;
  {
    std::lock_guard lock(orphans_mu_);
    orphan = orphans_.erase(id) > 0;
    if (orphan) ++orphans_forgotten_;
  }
  if (orphan) {
    struct stat st;
    if (FdCache::Handle fd = fds_.find(id, false); fd && ::fstat(fd->get(), &st) == 0) {
      quota_.file_closed(fd->ino, static_cast<std::uint64_t>(st.st_size));
    }
  }
  // Node ids are never reused: every fd of this one, pinned or cached, can go (the data
  // of a nameless file is freed on the host only once all of them are closed).
  fds_.erase(id);
  // After the quota gave its bytes back: a request waiting for them tries again.
  if (orphan) orphan_forgotten_.notify_all();
}

bool Filesystem::wait_for_forgotten_orphan(std::chrono::steady_clock::time_point until) {
  std::unique_lock lock(orphans_mu_);
  const auto recent_since = std::chrono::steady_clock::now() - kRecentOrphan;
  const bool any_recent = std::any_of(orphans_.begin(), orphans_.end(), [&](const auto& orphan) {
    return orphan.second >= recent_since;
  });
  // One request waits at a time; others are refused at once. Each waiter holds a request
  // thread: 12 writers refused in a loop beside a process deleting open files kept every
  // thread asleep, and the sandbox's other requests took a second each (sweep S).
  if (!any_recent || orphan_waiter_) return false;
  orphan_waiter_ = true;
  const std::uint64_t seen = orphans_forgotten_;
  const bool forgotten =
      orphan_forgotten_.wait_until(lock, until, [&] { return orphans_forgotten_ != seen; });
  orphan_waiter_ = false;
  return forgotten;
}

int Filesystem::resolve(const NodeView& parent, const std::string& name, const std::string& path,
                        HostEntry* out) {
  if (parent.upper_dir >= 0) {
    const int rc = stat_at(parent.upper_dir, name, &out->st);
    if (rc == 0) {
      out->layer = Layer::kUpper;
      struct stat base_st;
      out->base_dir_too = S_ISDIR(out->st.st_mode) && !journal_->is_opaque(path) &&
                          stat_base(parent, name, &base_st) == 0 && S_ISDIR(base_st.st_mode);
      return 0;
    }
    if (rc != -ENOENT) return rc;
  }
  if (parent.base_dir < 0 || journal_->is_whiteout(path)) return -ENOENT;
  out->layer = Layer::kBase;
  if (int rc = stat_base(parent, name, &out->st)) return rc;
  out->base_dir_too = S_ISDIR(out->st.st_mode);
  return 0;
}

int Filesystem::base_for_name(const NodeView& dir, std::string_view name) {
  if (dir.base_dir < 0) return -1;
  const std::uint64_t epoch = content_epoch();
  // The common case, every lookup: the directory's answer, kept on its node.
  if (dir.inode->plain_base_epoch.load(std::memory_order_acquire) == epoch + 1 &&
      dir.inode->plain_base_ino.load(std::memory_order_relaxed) == dir.base_id.ino) {
    return dir.base_dir;
  }
  const BaseNames::Verdict verdict = base_names_.admits(dir.base_dir, dir.base_id, name, epoch);
  if (!verdict.folds) mark_plain_base(dir, epoch);
  return verdict.admitted ? dir.base_dir : -1;
}

void Filesystem::mark_plain_base(const NodeView& dir, std::uint64_t epoch) {
  dir.inode->plain_base_ino.store(dir.base_id.ino, std::memory_order_relaxed);
  dir.inode->plain_base_epoch.store(epoch + 1, std::memory_order_release);
}

void Filesystem::record_hidden_probe(const std::string& path) {
  const policy::Decision as_file = access_.policy().decide(path, false);
  if (as_file.level != Level::kNone || access_.policy().decide(path, true).level != Level::kNone)
    return;
  (void)access_.check(Op::kLookup, path, as_file, Level::kView);  // denied: recorded
}

int Filesystem::lookup(const NodeView& parent, const std::string& name, fuse_entry_param* entry) {
  const std::string path = layer::child_path(parent.path, name);
  if (path.size() > kMaxWorkspacePath) return -ENAMETOOLONG;
  // Nothing is found below a hidden directory left in a cwd (see attr()).
  if (parent.unlinked && parent.decision.level < Level::kView) return -ENOENT;
  HostEntry host;
  if (int rc = resolve(parent, name, path, &host)) {
    if (rc == -ENOENT) record_hidden_probe(path);
    return rc;
  }
  const bool is_dir = S_ISDIR(host.st.st_mode);
  // A node the kernel already knows keeps its decision (decided once per inode).
  std::optional<NodeView> known = table_.find_child(parent, name);
  NewNode node;
  node.decision = known ? known->decision : access_.policy().decide(path, is_dir);
  if (is_dir) {
    if (host.layer == Layer::kUpper) {
      node.upper_dir = make_dir_handle(open_dir_path(parent.upper_dir, name));
      if (!node.upper_dir) return -errno;
    }
    if (host.base_dir_too) {
      node.base_dir = make_dir_handle(open_dir_path(parent.base_dir, name));
      if (!node.base_dir) return -errno;
    }
  }
  if (!visible(path, is_dir, node.decision, node.base_dir ? node.base_dir->get() : -1,
               node.upper_dir ? node.upper_dir->get() : -1)) {
    // Recorded as denied (reason "hidden"); the agent gets the ENOENT of an absent name.
    (void)access_.check(Op::kLookup, path, node.decision, Level::kView);
    return -ENOENT;
  }
  node.name = name;
  node.type = host.st.st_mode & S_IFMT;
  node.layer = host.layer;
  node.traversable = is_dir && node.decision.level < Level::kRead;
  const bool hard_linked =
      S_ISREG(host.st.st_mode) && host.layer == Layer::kUpper && host.st.st_nlink > 1;
  if (hard_linked && !known) {
    if (std::optional<NodeView> same = same_host_file(path, node.decision, host.st)) {
      if (std::optional<NodeView> view = table_.add_name(same->id, parent, name)) {
        present_attr(*view, owner(), &host.st);
        fill_entry(*view, host.st, entry);
        return 0;
      }
    }
  }
  const NodeView view = table_.remember(parent, std::move(node));
  if (hard_linked) table_.set_host_file(view.id, host.st.st_dev, host.st.st_ino);
  present_attr(view, owner(), &host.st);
  fill_entry(view, host.st, entry);
  return 0;
}

std::optional<NodeView> Filesystem::same_host_file(const std::string& path,
                                                   const policy::Decision& decision,
                                                   const struct stat& host) {
  std::optional<NodeView> known = table_.find_host_file(host.st_dev, host.st_ino);
  // A node carries one decision: a name at another level keeps a node of its own.
  if (!known || known->decision.level != decision.level || known->path == path) return std::nullopt;
  // The table's entry may be stale (the file was replaced and its inode number reused).
  struct stat now;
  if (stat_at(known->host_parent(), known->name, &now) != 0 || now.st_dev != host.st_dev ||
      now.st_ino != host.st_ino) {
    return std::nullopt;
  }
  return known;
}

int Filesystem::attr(const NodeView& node, struct stat* st) {
  // A directory below view that left the namespace (removed, or hidden once nothing
  // visible was left in it: node_rebind.cc) is reached only through a process's cwd or
  // open fd. Its host directory may still exist, with hidden content: its times would
  // show activity inside it.
  if (node.is_dir() && node.unlinked && node.decision.level < Level::kView) return -ENOENT;
  int rc;
  if (node.is_dir()) {
    const int dir = node.upper_dir >= 0 ? node.upper_dir : node.base_dir;
    // A removed directory whose fd was evicted cannot be reached again.
    rc = dir >= 0 ? stat_at(dir, "", st) : -ENOENT;
  } else if (node.unlinked) {
    // Still open in the agent (e.g. a deleted temp file): only our cached fd reaches it.
    FdCache::Handle fd = fds_.find(node.id, false);
    rc = fd ? result_of(::fstat(fd->get(), st)) : -ENOENT;
  } else {
    rc = stat_at(node.host_parent(), node.name, st);
  }
  if (rc == 0) present_attr(node, owner(), st);
  if (rc == 0 && options_.private_root && node.id == FUSE_ROOT_ID) st->st_mode &= ~mode_t{077};
  return rc;
}

void Filesystem::fill_entry(const NodeView& node, const struct stat& presented,
                            fuse_entry_param* entry) {
  *entry = {};
  entry->ino = node.id;
  entry->generation = 1;
  entry->attr = presented;
  entry->attr_timeout = kCacheTimeoutSeconds;
  entry->entry_timeout = kCacheTimeoutSeconds;
}

int Filesystem::listing(const NodeView& dir, bool continuing, std::shared_ptr<const Listing>* out) {
  if ((*out = table_.listing(dir.id, continuing))) return 0;
  counters_.listing_builds++;
  std::vector<ListedEntry> entries;
  // The lookups that usually follow a listing then find the base directory's casefold
  // flag known (base_names.h), without an open of their own to ask for it.
  const std::uint64_t epoch = content_epoch();
  const auto base_opened = [&](int readable) {
    if (!base_names_.folds_listed(dir.base_dir, dir.base_id, readable)) mark_plain_base(dir, epoch);
  };
  if (int rc = read_merged_dir(dir.base_dir, dir.upper_dir, dir.path, *journal_, &entries,
                               base_opened)) {
    return rc;
  }
  auto filtered = std::make_shared<Listing>();
  for (ListedEntry& entry : entries) {
    const std::string child = layer::child_path(dir.path, entry.name);
    const bool is_dir = S_ISDIR(entry.type);
    const policy::Decision decision = access_.policy().decide(child, is_dir);
    bool shown = decision.level >= Level::kView;
    if (!shown && is_dir && decision.descendants_may_be_visible) {
      ChildDirFds fds = open_child_dirs(dir.base_dir, dir.upper_dir, entry.name, child, *journal_);
      shown = visible(child, true, decision, fds.base.get(), fds.upper.get());
    }
    if (shown) filtered->push_back(std::move(entry));
  }
  table_.set_listing(dir.id, filtered);
  *out = std::move(filtered);
  return 0;
}

}  // namespace agentfense::fs
