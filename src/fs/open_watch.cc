#include "fs/open_watch.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <utility>
#include <vector>

#include "common/log.h"

namespace agentfense::fs {
namespace {

constexpr std::uint64_t kWatched = FAN_CLOSE_WRITE | FAN_CLOSE_NOWRITE | FAN_OPEN_EXEC;
// Each event read arrives with a descriptor of its own, made by the read: reading at
// most this many at once bounds what the watch adds to the process's open files (a
// 16 KiB read could make 682 at once, more than the fd budget keeps spare; filesystem.cc).
constexpr std::size_t kEventsPerRead = 64;

// An event about the trail itself ("audit" kind), when there is a trail.
void record_notice(Filesystem& fs, const char* op, std::string why) {
  audit::Recorder* recorder = fs.access().recorder();
  if (recorder == nullptr) return;
  audit::Event notice;
  notice.kind = audit::kKindAudit;
  notice.op = op;
  notice.details = {{"why", std::move(why)}};
  recorder->record(std::move(notice));
}

// After reading what is queued, the reader sleeps this long unless a drain or stop wakes
// it: woken per event, the reader costs the agent a context switch per open (most of the
// trail's cost on a 2-core machine); batched, one wake-up serves hundreds of opens. The
// kernel queue (16,384 events) holds far more than an agent opens in this time.
constexpr int kBatchMs = 5;

}  // namespace

OpenWatch::OpenWatch(Filesystem& fs, std::string mountpoint, std::function<void()> started)
    : fs_(fs) {
  wake_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  thread_ = std::thread([this, mountpoint = std::move(mountpoint), started = std::move(started)] {
    run(mountpoint, started);
  });
}

bool OpenWatch::start(const std::string& mountpoint) {
  // Notification class (no permission events: nothing here can slow or block an open),
  // a bounded queue (an overflow is recorded as dropped events).
  fan_ = UniqueFd(::fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK,
                                  O_RDONLY | O_CLOEXEC | O_LARGEFILE | O_NOATIME));
  int error = fan_ ? 0 : errno;
  if (fan_ && ::fanotify_mark(fan_.get(), FAN_MARK_ADD | FAN_MARK_FILESYSTEM, kWatched, AT_FDCWD,
                              mountpoint.c_str()) < 0) {
    error = errno;
  }
  if (!wake_ && error == 0) error = EMFILE;
  if (error == 0) fan_fd_.store(fan_.get());
  if (error != 0) {
    fan_.reset();
    log::warn("fs.open_watch_unavailable", {{"error", std::strerror(error)}});
    record_notice(fs_, "open_events_unavailable", std::string("fanotify: ") + std::strerror(error));
    return false;
  }
  return true;
}

OpenWatch::~OpenWatch() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  const std::uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);  // a full eventfd counter wakes it too
  thread_.join();
}

void OpenWatch::drain(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  const std::uint64_t mine = ++drain_requested_;
  const std::uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);  // see ~OpenWatch
  drained_.wait_for(lock, timeout, [&] { return drain_done_ >= mine; });
}

void OpenWatch::drain_if_pending() {
  const int fd = fan_fd_.load();
  if (fd < 0) return;
  // Events queued, or taken off the queue by the reader and not recorded yet.
  pollfd queued = {fd, POLLIN, 0};
  if (reading_.load() || ::poll(&queued, 1, 0) > 0) drain(std::chrono::milliseconds(100));
}

void OpenWatch::run(const std::string& mountpoint, const std::function<void()>& started) {
  const bool watching = start(mountpoint);
  started();
  if (!watching) {
    // Nothing to read: answer drains at once until told to stop.
    std::unique_lock lock(mu_);
    for (;;) {
      drain_done_ = drain_requested_;
      drained_.notify_all();
      if (stopping_) return;
      lock.unlock();
      pollfd wake = {wake_.get(), POLLIN, 0};
      (void)::poll(&wake, 1, -1);  // EINTR: look again
      std::uint64_t counter;
      (void)!::read(wake_.get(), &counter, sizeof counter);
      lock.lock();
    }
  }
  for (;;) {
    pollfd fds[2] = {{fan_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) {
      log::warn("fs.open_watch_failed", {{"error", std::strerror(errno)}});
      return;
    }
    std::uint64_t counter;
    (void)!::read(wake_.get(), &counter, sizeof counter);  // EAGAIN when not signalled
    std::uint64_t target;
    bool stop;
    {
      std::lock_guard lock(mu_);
      target = drain_requested_;
      stop = stopping_;
    }
    reading_.store(true);
    const bool ok = read_events();
    reading_.store(false);
    {
      std::lock_guard lock(mu_);
      drain_done_ = target;
    }
    drained_.notify_all();
    if (stop || !ok) return;
    pollfd wake = {wake_.get(), POLLIN, 0};
    (void)::poll(&wake, 1, kBatchMs);  // EINTR or timeout: read again either way
  }
}

bool OpenWatch::read_events() {
  alignas(fanotify_event_metadata) char buffer[kEventsPerRead * sizeof(fanotify_event_metadata)];
  for (;;) {
    const ssize_t n = ::read(fan_.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return true;
    if (n < 0 && (errno == EMFILE || errno == ENFILE)) {
      // No descriptor for the next event: the kernel dropped it. A shortage passes (the
      // fd cache gives back, commands end); the watch goes on after this pass's pause.
      note_dropped(errno);
      return true;
    }
    if (n <= 0) {
      log::warn("fs.open_watch_failed", {{"error", std::strerror(n < 0 ? errno : EIO)}});
      return false;
    }
    out_of_descriptors_ = false;
    auto* event = reinterpret_cast<fanotify_event_metadata*>(buffer);
    ssize_t left = n;
    for (; FAN_EVENT_OK(event, left); event = FAN_EVENT_NEXT(event, left)) {
      if (event->vers != FANOTIFY_METADATA_VERSION) continue;
      // The warm-up walker's reads are not the agent's (prewarm_walk.h).
      if (!fs_.access().is_quiet(event->pid)) handle(event->mask, event->fd);
      if (event->fd >= 0) (void)::close(event->fd);  // nothing to report on failure
    }
  }
}

void OpenWatch::note_dropped(int error) {
  if (std::exchange(out_of_descriptors_, true)) return;  // one notice per shortage
  log::warn("fs.open_events_dropped", {{"error", std::strerror(error)}});
  record_notice(fs_, "events_dropped",
                std::string("no file descriptor left for open events (") + std::strerror(error) +
                    "): opens are missing");
}

void OpenWatch::handle(std::uint64_t mask, int fd) {
  if (mask & FAN_Q_OVERFLOW) {
    record_notice(fs_, "events_dropped",
                  "the kernel's open-event queue overflowed: opens are missing");
    return;
  }
  if (fd < 0) return;
  // Our inode numbers are node ids. DONT_SYNC: the number never changes, and a fresh
  // GETATTR would cost a round trip (and look like a refused open, ops_lookup.cc).
  struct statx st;
  if (::statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_INO, &st) < 0) return;
  std::optional<NodeView> node = fs_.table().peek(st.stx_ino);
  if (!node) return;  // forgotten meanwhile (a deleted temporary file)
  if (mask & FAN_OPEN_EXEC)
    fs_.access().record_event("exec", node->path, node->decision, true, 0, {});
  if (mask & FAN_CLOSE_NOWRITE) {
    fs_.access().record_event("open_read", node->path, node->decision, true, 0, {});
  }
  if (mask & FAN_CLOSE_WRITE) {
    fs_.access().record_event("open_write", node->path, node->decision, true, 0, {});
  }
}

}  // namespace agentfense::fs
