#include "fs/uring_transport.h"

#include <liburing.h>
#include <linux/fuse.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <future>
#include <string>
#include <system_error>

#include "common/log.h"

namespace agentfense::fs {
namespace {

// From the kernel's linux/fuse.h (protocol 7.42), newer than Debian 12's headers.
struct EntInOut {  // struct fuse_uring_ent_in_out
  std::uint64_t flags;
  std::uint64_t commit_id;
  std::uint32_t payload_sz;
  std::uint32_t padding;
  std::uint64_t reserved;
};
constexpr std::size_t kHeaderAreaSize = 128;  // FUSE_URING_IN_OUT_HEADER_SZ, ..._OP_IN_OUT_SZ
struct RequestHeader {                        // struct fuse_uring_req_header
  char in_out[kHeaderAreaSize];               // fuse_in_header, then fuse_out_header
  char op_in[kHeaderAreaSize];                // the opcode's own header (in_args[0])
  EntInOut ent;
};
static_assert(sizeof(RequestHeader) == 288);
struct CommandRequest {  // struct fuse_uring_cmd_req, in the SQE's command area
  std::uint64_t flags;
  std::uint64_t commit_id;
  std::uint16_t qid;
  std::uint8_t padding[6];
};
constexpr std::uint32_t kRegister = 1;        // FUSE_IO_URING_CMD_REGISTER
constexpr std::uint32_t kCommitAndFetch = 2;  // FUSE_IO_URING_CMD_COMMIT_AND_FETCH

constexpr int kThreadsPerQueue = 3;  // see the header: above prefetch's kMaxPushers (2)
// The kernel (6.18) wants an entry on every CPU's queue before it uses any: on a host with
// more CPUs than this, kThreadsPerQueue threads per CPU in every fs process would cost
// more than the wake-ups they save, and /dev/fuse serves.
constexpr unsigned kMaxQueues = 16;
// Payload bytes of each entry kept resident between requests: READ replies and most
// requests fit; a 1 MiB WRITE's pages are given back after it (a few µs against the
// 1 MiB it moved), so idle memory does not keep one large buffer per thread.
constexpr std::size_t kResidentPayload = 128 * 1024;
// Room before the payload for the request's fuse_in_header and opcode header, so that
// libfuse gets one contiguous request without the payload being copied.
constexpr std::size_t kPrefix = 256;
static_assert(kPrefix >= sizeof(fuse_in_header) + kHeaderAreaSize);

// The kernel has one queue per possible CPU (nr_cpu_ids) and routes requests only once
// every queue has an entry.
unsigned possible_cpus() {
  std::ifstream in("/sys/devices/system/cpu/possible");
  std::string text;
  if (in >> text) {
    const std::size_t dash = text.find_last_of("-,");
    try {
      return static_cast<unsigned>(
                 std::stoul(dash == std::string::npos ? text : text.substr(dash + 1))) +
             1;
    } catch (const std::exception&) {
      // fall through to sysconf
    }
  }
  const long configured = ::sysconf(_SC_NPROCESSORS_CONF);
  return configured > 0 ? static_cast<unsigned>(configured) : 1;
}

}  // namespace

struct UringTransport::Entry {
  alignas(64) RequestHeader header{};
  std::unique_ptr<char[]> buffer;  // kPrefix, then the payload
  char* payload = nullptr;
  iovec iov[2]{};
  Ring* ring = nullptr;
  std::uint16_t qid = 0;
  std::uint64_t commit_id = 0;
  std::size_t touched = 0;  // payload bytes the current request brought
};

struct UringTransport::Ring {
  io_uring uring{};
  bool initialized = false;
  std::mutex submit_mu;  // the submission queue has one producer at a time
  Entry entry;
  Ring() = default;
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  ~Ring() {
    if (initialized) io_uring_queue_exit(&uring);
  }
};

UringTransport::UringTransport(fuse_session* session, int device_fd)
    : session_(session), device_fd_(device_fd) {}

UringTransport::~UringTransport() {
  join();
}

void UringTransport::join() {
  stopping_ = true;
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

bool UringTransport::start(std::size_t max_payload) {
  max_payload_ = max_payload;
  const unsigned queues = possible_cpus();
  if (queues > kMaxQueues) {
    log::debug(
        "fs.transport",
        {{"kind", "dev_fuse"}, {"why", "too many CPUs for a ring per CPU"}, {"cpus", queues}});
    return false;
  }
  // One entry at a time: each registration is answered before the next, and the first
  // refusal ends them. Entries the kernel accepted keep serving even if a later one is
  // refused: the kernel routes requests to the rings once each queue has an entry.
  std::string refused;
  for (unsigned qid = 0; qid < queues && refused.empty(); ++qid) {
    for (int i = 0; i < kThreadsPerQueue && refused.empty(); ++i) {
      refused = add_entry(static_cast<std::uint16_t>(qid));
    }
  }
  if (!refused.empty()) {
    log::warn("fs.uring_refused", {{"error", refused}, {"entries", rings_.size()}});
    return false;
  }
  log::debug("fs.transport",
             {{"kind", "io_uring"}, {"queues", queues}, {"entries", rings_.size()}});
  return true;
}

std::string UringTransport::add_entry(std::uint16_t qid) {
  auto ring = std::make_unique<Ring>();
  ring->entry.ring = ring.get();
  ring->entry.qid = qid;
  // The entry is registered by the thread that serves it, not here on the libfuse worker
  // that answered INIT: the kernel hands an entry its next request through the task that
  // submitted its pending command and cancels a task's commands when it exits, so once
  // that worker exited (idle workers do) the entries that had served nothing yet were
  // lost, and the requests given to them failed with ECANCELED or waited forever.
  std::promise<std::string> registered;
  std::future<std::string> answer = registered.get_future();
  std::thread thread;
  try {
    thread = std::thread([this, r = ring.get(), registered = std::move(registered)]() mutable {
      const std::string refused = register_entry(*r);
      // Before this thread can take a request: its reply must find the transport.
      if (refused.empty()) running_ = true;
      registered.set_value(refused);
      if (refused.empty()) serve(*r);
    });
  } catch (const std::system_error& e) {
    return std::string("thread: ") + e.what();
  }
  std::string refused = answer.get();
  if (!refused.empty()) {
    thread.join();  // it ended at the refusal; the ring goes with `ring`
    return refused;
  }
  rings_.push_back(std::move(ring));
  threads_.push_back(std::move(thread));
  return "";
}

std::string UringTransport::register_entry(Ring& ring) noexcept {
  try {
    io_uring_params params{};
    params.flags = IORING_SETUP_SQE128;  // the command area holds CommandRequest
    if (int rc = io_uring_queue_init_params(4, &ring.uring, &params); rc < 0) {
      return std::string("io_uring_setup: ") + std::strerror(-rc);
    }
    ring.initialized = true;
    Entry& entry = ring.entry;
    // Untouched pages of the buffer cost nothing; trim() gives back what large requests
    // touched.
    entry.buffer.reset(new char[kPrefix + max_payload_]);
    entry.payload = entry.buffer.get() + kPrefix;
    entry.iov[0] = {&entry.header, sizeof entry.header};
    entry.iov[1] = {entry.payload, max_payload_};
    if (!submit(entry, kRegister)) return "io_uring_submit failed";
    // A refused registration completes at once; an accepted one only with a request,
    // which serve() then takes from the ring.
    io_uring_cqe* cqe = nullptr;
    if (io_uring_peek_cqe(&ring.uring, &cqe) == 0 && cqe && cqe->res < 0) {
      return std::string("FUSE_IO_URING_CMD_REGISTER: ") + std::strerror(-cqe->res);
    }
    return "";
  } catch (const std::exception& e) {  // the buffer: start() must get an answer
    return std::string("entry: ") + e.what();
  }
}

bool UringTransport::submit(Entry& entry, std::uint32_t command) {
  Ring& ring = *entry.ring;
  std::lock_guard lock(ring.submit_mu);
  io_uring_sqe* sqe = io_uring_get_sqe(&ring.uring);
  if (!sqe) return false;                         // one entry per ring: its queue is never full
  std::memset(sqe, 0, 2 * sizeof(io_uring_sqe));  // SQE128
  sqe->opcode = IORING_OP_URING_CMD;
  sqe->fd = device_fd_;
  sqe->cmd_op = command;
  if (command == kRegister) {
    sqe->addr = reinterpret_cast<std::uint64_t>(entry.iov);
    sqe->len = 2;
  }
  CommandRequest request{};
  request.commit_id = entry.commit_id;
  request.qid = entry.qid;
  std::memcpy(sqe->cmd, &request, sizeof request);
  io_uring_sqe_set_data(sqe, &entry);
  return io_uring_submit(&ring.uring) == 1;
}

void UringTransport::serve(Ring& ring) {
  // Not pinned to the queue's CPU: the scheduler already wakes the thread next to its
  // caller, and a pinned thread cannot leave a CPU that writeback keeps busy (dd bs=4k
  // of 100 MB: 0.21-0.39 s unpinned, 0.36-1.15 s pinned, in the same runs).
  while (!stopping_) {
    io_uring_cqe* cqe = nullptr;
    __kernel_timespec wait{.tv_sec = 0, .tv_nsec = 100'000'000};  // to see stopping_
    const int rc = io_uring_wait_cqe_timeout(&ring.uring, &cqe, &wait);
    if (rc == -ETIME || rc == -EINTR) continue;
    if (rc < 0) {
      log::warn("fs.uring_failed", {{"error", std::strerror(-rc)}});
      return;
    }
    const int result = cqe->res;
    io_uring_cqe_seen(&ring.uring, cqe);
    if (result < 0) {
      // The connection ended (unmount, abort) or the entry was cancelled: expected when
      // stopping. Anything else takes this entry out of service, and is worth a line.
      if (!stopping_ && result != -ENOTCONN && result != -ECANCELED && result != -ENODEV) {
        log::warn("fs.uring_entry_failed", {{"error", std::strerror(-result)}});
      }
      return;
    }
    served_.fetch_add(1, std::memory_order_relaxed);
    handle(ring.entry);
  }
}

void UringTransport::handle(Entry& entry) {
  fuse_in_header in;
  std::memcpy(&in, entry.header.in_out, sizeof in);
  entry.commit_id = entry.header.ent.commit_id;
  const std::size_t payload = entry.header.ent.payload_sz;
  entry.touched = payload;
  if (payload > max_payload_ || in.len < sizeof in + payload ||
      in.len - sizeof in - payload > kHeaderAreaSize) {
    const fuse_out_header out{.len = sizeof(fuse_out_header), .error = -EIO, .unique = in.unique};
    send(entry, out, 0);
    return;
  }
  const std::size_t op_size = in.len - sizeof in - payload;
  char* request = entry.payload - op_size - sizeof in;
  std::memcpy(request, &in, sizeof in);
  std::memcpy(request + sizeof in, entry.header.op_in, op_size);
  {
    std::lock_guard lock(inflight_mu_);
    inflight_[in.unique] = &entry;
  }
  fuse_buf buf{};
  buf.mem = request;
  buf.size = in.len;
  fuse_session_process_buf(session_, &buf);
}

UringTransport::Entry* UringTransport::claim(std::uint64_t unique) {
  std::lock_guard lock(inflight_mu_);
  auto it = inflight_.find(unique);
  if (it == inflight_.end()) return nullptr;
  Entry* entry = it->second;
  inflight_.erase(it);
  return entry;
}

void UringTransport::send(Entry& entry, const fuse_out_header& out, std::size_t payload) {
  std::memcpy(entry.header.in_out, &out, sizeof out);
  entry.header.ent.payload_sz = static_cast<std::uint32_t>(payload);
  trim(entry, payload);
  // After this the kernel may write the next request into the entry at any time.
  if (!submit(entry, kCommitAndFetch)) log::warn("fs.uring_commit_failed", {});
}

void UringTransport::trim(Entry& entry, std::size_t reply) {
  // The largest use of the payload since the last trim: this request's or this reply's.
  const std::size_t touched = std::max<std::size_t>(entry.touched, reply);
  entry.touched = 0;
  if (touched <= kResidentPayload) return;
  const std::size_t page = static_cast<std::size_t>(::getpagesize());
  const std::size_t keep = (std::max(reply, kResidentPayload) + page - 1) / page * page;
  const auto base = reinterpret_cast<std::uintptr_t>(entry.payload);
  const std::uintptr_t from = (base + keep + page - 1) / page * page;
  const std::uintptr_t to = (base + touched) / page * page;
  // An idle fs process keeps at most kResidentPayload of each buffer (failure: it keeps more).
  if (to > from) (void)::madvise(reinterpret_cast<void*>(from), to - from, MADV_DONTNEED);
}

bool UringTransport::take_reply(const iovec* iov, int count) {
  if (count < 1 || iov[0].iov_len != sizeof(fuse_out_header)) return false;
  fuse_out_header out;
  std::memcpy(&out, iov[0].iov_base, sizeof out);
  if (out.unique == 0) return false;  // a notification
  Entry* entry = claim(out.unique);
  if (!entry) return false;  // a request that came through /dev/fuse
  std::size_t used = 0;
  for (int i = 1; i < count && used < max_payload_; ++i) {
    const std::size_t n = std::min(iov[i].iov_len, max_payload_ - used);
    std::memmove(entry->payload + used, iov[i].iov_base, n);
    used += n;
  }
  send(*entry, out, used);
  return true;
}

}  // namespace agentfense::fs
