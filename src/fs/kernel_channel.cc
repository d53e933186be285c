#include "fs/kernel_channel.h"

#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <linux/fuse.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "common/errors.h"
#include "common/log.h"
#include "fs/filesystem.h"
#include "fs/uring_transport.h"

namespace agentfense::fs {
namespace {

// libfuse hands every I/O function the session's userdata: our Filesystem.
KernelFeatures& features_of(void* userdata) {
  return static_cast<Filesystem*>(userdata)->kernel_features();
}

ssize_t channel_read(int fd, void* buf, size_t len, void* userdata) {
  const ssize_t n = ::read(fd, buf, len);
  if (n >= static_cast<ssize_t>(sizeof(fuse_in_header) + offsetof(fuse_init_in, flags) + 4)) {
    fuse_in_header header;
    std::memcpy(&header, buf, sizeof(header));
    if (header.opcode == FUSE_INIT) {
      fuse_init_in init{};
      const size_t have = std::min(static_cast<size_t>(n) - sizeof(header), sizeof(init));
      std::memcpy(&init, static_cast<const char*>(buf) + sizeof(header), have);
      std::uint64_t offered = init.flags;
      if ((init.flags & FUSE_INIT_EXT) && have >= offsetof(fuse_init_in, flags2) + 4) {
        offered |= static_cast<std::uint64_t>(init.flags2) << 32;
      }
      KernelFeatures& features = features_of(userdata);
      features.offered.store(offered);
      features.init_unique.store(header.unique);
    }
  }
  return n;
}

// From the kernel's linux/fuse.h (protocol 7.42), newer than Debian 12's headers.
constexpr std::uint64_t kOverIoUring = 1ULL << 41;  // FUSE_OVER_IO_URING

// Returns the payload size io_uring entries need when io_uring was agreed on, else 0.
std::size_t amend_init_reply(fuse_init_out* out, std::uint64_t offered, KernelFeatures& features) {
  if (offered & FUSE_HANDLE_KILLPRIV_V2) {
    out->flags |= FUSE_HANDLE_KILLPRIV_V2;
    features.killpriv_v2.store(true);
  }
  if (!features.transport.load()) return 0;
  if (!(offered & kOverIoUring) || !(offered & FUSE_INIT_EXT)) {
    log::debug("fs.transport", {{"kind", "dev_fuse"},
                                {"why",
                                 "the kernel does not offer FUSE over io_uring "
                                 "(Linux 6.14+ with fuse.enable_uring=Y)"}});
    return 0;
  }
  out->flags |= FUSE_INIT_EXT;
  out->flags2 |= static_cast<std::uint32_t>(kOverIoUring >> 32);
  // What the kernel will require of each entry's payload buffer: the largest request.
  const std::size_t pages = (out->flags & FUSE_MAX_PAGES) ? out->max_pages : 32;
  return std::max<std::size_t>(
      {FUSE_MIN_READ_BUFFER, out->max_write, pages * static_cast<std::size_t>(::getpagesize())});
}

ssize_t total_length(const iovec* iov, int count) {
  ssize_t total = 0;
  for (int i = 0; i < count; ++i) total += static_cast<ssize_t>(iov[i].iov_len);
  return total;
}

ssize_t channel_writev(int fd, iovec* iov, int count, void* userdata) {
  KernelFeatures& features = features_of(userdata);
  if (UringTransport* uring = features.serving_uring(); uring && uring->take_reply(iov, count)) {
    return total_length(iov, count);
  }
  const std::uint64_t init_unique = features.init_unique.load();
  if (init_unique != 0 && count >= 2 && iov[0].iov_len == sizeof(fuse_out_header) &&
      iov[1].iov_len >= sizeof(fuse_init_out)) {
    auto* header = static_cast<fuse_out_header*>(iov[0].iov_base);
    if (header->unique == init_unique && header->error == 0) {
      features.init_unique.store(0);  // amend once
      const std::size_t payload = amend_init_reply(static_cast<fuse_init_out*>(iov[1].iov_base),
                                                   features.offered.load(), features);
      const ssize_t written = ::writev(fd, iov, count);
      // The kernel took the INIT reply in this writev: entries may register from now on.
      // Replies go through the rings as long as any entry serves (serving_uring()): once
      // every queue has one the kernel sends requests there, even if a later one failed.
      if (written > 0 && payload > 0) features.transport.load()->start(payload);
      return written;
    }
  }
  return ::writev(fd, iov, count);
}

// Only requests that came through /dev/fuse are answered by splice (see the header).
ssize_t channel_splice(int fd_in, off_t* off_in, int fd_out, off_t* off_out, size_t len,
                       unsigned int flags, void*) {
  return ::splice(fd_in, off_in, fd_out, off_out, len, flags);
}

}  // namespace

UringTransport* KernelFeatures::serving_uring() const {
  UringTransport* uring = transport.load();
  return uring && uring->running() ? uring : nullptr;
}

void install_kernel_channel(fuse_session* session) {
  static const fuse_custom_io io = {
      .writev = channel_writev,
      .read = channel_read,
      .splice_receive = channel_splice,
      .splice_send = channel_splice,
  };
  // After fuse_session_mount(): libfuse keeps the mountpoint (for unmount) and takes the
  // same fd back; only the I/O functions change.
  if (int rc = fuse_session_custom_io(session, &io, fuse_session_fd(session)); rc != 0) {
    throw SystemError("fuse_session_custom_io", -rc);
  }
}

}  // namespace agentfense::fs
