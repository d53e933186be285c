// One live mount: the FUSE session, the kernel mount and the Filesystem serving it, as a
// single RAII object. serve() wraps it with signal handling; tests drive it directly to
// read its request counters.
#pragma once

#include <functional>
#include <memory>

#include "fs/filesystem.h"
#include "fs/mount.h"
#include "fs/prefetch.h"
#include "fs/uring_transport.h"

struct fuse_session;

namespace agentfense::fs {

class Session {
 public:
  // Opens the journal (and audit log) and mounts; throws SystemError on failure.
  explicit Session(const MountOptions& options);
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  ~Session();  // unmounts if still mounted

  // Serves requests on several threads until the kernel unmounts the fs or exit()
  // is called; returns 0 on a clean end.
  int run();
  // Runs once the request loop has ended, while the mount is still there.
  void set_before_unmount(std::function<void()> hook) { before_unmount_ = std::move(hook); }
  void exit();
  // For signal handlers installed by serve().
  fuse_session* raw() { return session_; }

  const RequestCounters& counters() { return filesystem_->counters(); }
  Filesystem& filesystem() { return *filesystem_; }
  // Null when requests travel only through /dev/fuse.
  const UringTransport* uring() const { return filesystem_->kernel_features().serving_uring(); }
  // Null when auditing is off.
  audit::Recorder* recorder() { return filesystem_->access().recorder(); }

 private:
  // Stops what still serves or pushes into the session, then unmounts: after the loop
  // (run) or on destruction; a second call does nothing.
  void take_down();
  void stop_prefetch();
  void stop_uring();

  std::unique_ptr<Filesystem> filesystem_;
  fuse_session* session_ = nullptr;
  std::unique_ptr<Prefetcher> prefetcher_;  // pushes into session_: stopped before it ends
  std::unique_ptr<UringTransport> uring_;   // serves session_: stopped before it ends
  bool mounted_ = false;
  const unsigned idle_workers_;
  std::function<void()> before_unmount_;
};

}  // namespace agentfense::fs
