// The /dev/fuse channel under libfuse: plain read, writev and splice, plus the parts of
// the INIT handshake libfuse 3.14 (Debian 12) cannot express. It installs itself as the
// session's custom I/O after the mount and amends libfuse's INIT reply on its way to the
// kernel, asking only for what the kernel offered in its INIT request:
//  * FUSE_HANDLE_KILLPRIV_V2: the fs clears setuid/setgid on write, truncate and chown
//    itself. Ours never stores those bits (ops_setattr.cc), so nothing more is needed;
//    what it buys is SB_NOSEC on the mount: the kernel stops asking GETXATTR
//    security.capability before every WRITE (one of the two round trips per write(2)).
//  * FUSE_OVER_IO_URING, when a transport is given (uring_transport.h): replies to the
//    requests it took go back through it instead of /dev/fuse. Only written replies are
//    routed: a spliced reply goes to /dev/fuse, so nothing may splice over io_uring.
#pragma once

#include <atomic>
#include <cstdint>

struct fuse_session;

namespace agentfense::fs {

class UringTransport;

// What the kernel and we agreed on at INIT, readable once the first request was served.
struct KernelFeatures {
  std::atomic<bool> killpriv_v2{false};
  // Set before the mount when requests may travel over io_uring (uring_transport.h), and
  // back to null before it goes; the channel starts it once INIT agreed on it.
  std::atomic<UringTransport*> transport{nullptr};
  // The transport serving now (its ring entries registered), or null: replies of the
  // requests it took must go back through it, and none of them may be spliced.
  UringTransport* serving_uring() const;

  // The INIT exchange as the channel saw it: it happens once, before any other request
  // (the kernel sends nothing else until it has our reply), so atomics carry it from the
  // read of the request to the writev of the reply.
  std::atomic<std::uint64_t> init_unique{0};  // the INIT request's id; 0: none pending
  std::atomic<std::uint64_t> offered{0};      // the kernel's flags | flags2 << 32
};

// Makes `session` (mounted, not yet serving) use our channel on its /dev/fuse fd. The
// session's userdata must be the Filesystem (whose kernel_features() receive the result).
// Throws SystemError if libfuse refuses.
void install_kernel_channel(fuse_session* session);

}  // namespace agentfense::fs
