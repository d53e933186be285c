#include "fs/prefetch.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <shared_mutex>

#include "fs/host_io.h"
#include "layer/safe_walk.h"

namespace agentfense::fs {
namespace {

// Small files are where round trips dominate; a large file's READs are few and big.
constexpr std::size_t kMaxFileBytes = 256 * 1024;
// One batch: long enough to amortize the miss that starts it, short enough that the
// reader waiting on that miss is not held up for long (about 0.5 ms here).
constexpr std::size_t kBatchFiles = 32;
constexpr std::size_t kBatchBytes = 2 * 1024 * 1024;
// Request threads allowed to push at once (see prefetch.h; the loop runs up to 16).
constexpr int kMaxPushers = 2;

bool eligible(const NodeView& node) {
  return S_ISREG(node.type) && !node.unlinked && node.layer == Layer::kBase &&
         node.decision.level == policy::Level::kRead;
}

// The whole of a file of `size` bytes, or false (it changed size or could not be read).
bool read_whole(int fd, std::size_t size, std::vector<char>* out) {
  out->resize(size);
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd, out->data() + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// Releases a pusher slot on every return path.
class PusherSlot {
 public:
  explicit PusherSlot(std::atomic<int>& count) : count_(count) {
    acquired_ = count_.fetch_add(1) < kMaxPushers;
  }
  PusherSlot(const PusherSlot&) = delete;
  PusherSlot& operator=(const PusherSlot&) = delete;
  ~PusherSlot() { count_.fetch_sub(1); }
  bool acquired() const { return acquired_; }

 private:
  std::atomic<int>& count_;
  bool acquired_;
};

}  // namespace

void Prefetcher::file_read(Filesystem& fs, const NodeView& file) {
  if (!file.parent || !eligible(file)) return;
  const PusherSlot slot(pushers_);
  if (!slot.acquired()) return;
  const std::uint64_t epoch = fs.content_epoch();
  std::optional<NodeView> dir;
  std::shared_ptr<const Listing> listing;
  {
    const std::shared_lock gate(fs.layer_gate());
    dir = fs.table().view(file.parent->id);  // Inode::id is const: no table lock needed
    if (!dir || dir->unlinked || fs.listing(*dir, false, &listing) != 0) return;
  }
  auto next = std::find_if(listing->begin(), listing->end(),
                           [&](const ListedEntry& entry) { return entry.name == file.name; });
  if (next == listing->end()) return;
  std::vector<char> data;
  std::size_t files = 0, budget = kBatchBytes;
  for (++next; next != listing->end() && files < kBatchFiles; ++next) {
    if (!S_ISREG(next->type)) continue;
    const fuse_ino_t ino = load(fs, layer::child_path(dir->path, next->name), budget, &data);
    if (ino == 0) continue;
    ++files;
    budget -= data.size();
    fuse_bufvec buf = FUSE_BUFVEC_INIT(data.size());
    buf.buf[0].mem = data.data();
    // ENOENT: the kernel forgot the node meanwhile; nothing to fill, nothing to undo.
    if (fuse_lowlevel_notify_store(session_, ino, 0, &buf, FUSE_BUF_NO_SPLICE) == 0) {
      fs.counters().prefetched_files++;
    }
    if (fs.content_epoch() != epoch) {
      // A commit or refresh ran while this file was read: what we stored may be older
      // than what its invalidation already dropped. Drop it again and stop.
      (void)fuse_lowlevel_notify_inval_inode(session_, ino, 0, 0);
      return;
    }
  }
}

fuse_ino_t Prefetcher::load(Filesystem& fs, const std::string& path, std::size_t budget,
                            std::vector<char>* out) {
  const std::shared_lock gate(fs.layer_gate());
  std::optional<NodeView> node = fs.table().find_path(path);
  if (!node || !eligible(*node)) return 0;
  FdCache::Handle fd;
  if (fs.open_file(*node, false, &fd) != 0) return 0;
  struct stat st;
  if (::fstat(fd->get(), &st) != 0) return 0;
  const auto size = static_cast<std::size_t>(st.st_size);
  if (size == 0 || size > kMaxFileBytes || size > budget) return 0;
  return read_whole(fd->get(), size, out) ? node->id : 0;
}

}  // namespace agentfense::fs
