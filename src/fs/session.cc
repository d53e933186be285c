#include "fs/session.h"

#include <fuse_lowlevel.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "common/errors.h"
#include "fs/kernel_channel.h"
#include "fs/ops.h"
#include "fs/uring_transport.h"

namespace agentfense::fs {
namespace {

// Worker threads: enough for parallel greps and lookups on a 2-core host without a
// thread per request.
constexpr unsigned kMaxThreads = 16;

std::unique_ptr<audit::Recorder> open_audit(const MountOptions& options) {
  if (options.audit_path.empty()) return nullptr;
  return std::make_unique<audit::Recorder>(
      options.audit_path, options.audit_sandbox, audit::Recorder::kDefaultCapacity,
      audit::Recorder::kMaxQueuedBytes, static_cast<std::uint64_t>(options.audit_max_bytes));
}

}  // namespace

Session::Session(const MountOptions& options)
    : filesystem_(std::make_unique<Filesystem>(options, layer::Journal::open(options.state_dir),
                                               open_audit(options))),
      idle_workers_(options.idle_workers) {
  // allow_other: as root the agent runs as another uid. Rootless the agent's ids map to
  // our own uid, so the mount stays private to it (fusermount3 refuses allow_other
  // anyway without user_allow_other in /etc/fuse.conf). default_permissions: the kernel
  // enforces the presented mode bits, which is what makes long cache timeouts safe.
  const std::string shared = ::geteuid() == 0 ? "allow_other," : "";
  std::vector<std::string> argv_text = {
      "agentfense", "-o",
      shared + "default_permissions,nodev,nosuid,fsname=agentfense,subtype=agentfense"};
  if (options.debug) argv_text.push_back("-d");
  std::vector<char*> argv;
  for (std::string& arg : argv_text) argv.push_back(arg.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  const fuse_lowlevel_ops ops = make_operations();
  session_ = fuse_session_new(&args, &ops, sizeof(ops), filesystem_.get());
  fuse_opt_free_args(&args);  // libfuse may have copied argv into heap storage
  if (!session_) throw SystemError("fuse_session_new", EINVAL);
  if (fuse_session_mount(session_, options.mountpoint.c_str()) != 0) {
    fuse_session_destroy(session_);
    throw SystemError("mount " + options.mountpoint, errno ? errno : EIO);
  }
  mounted_ = true;
  install_kernel_channel(session_);
  if (options.uring) {
    uring_ = std::make_unique<UringTransport>(session_, fuse_session_fd(session_));
    filesystem_->kernel_features().transport.store(uring_.get());
  }
  if (options.prefetch) {
    prefetcher_ = std::make_unique<Prefetcher>(session_);
    filesystem_->set_prefetcher(prefetcher_.get());
  }
}

void Session::stop_prefetch() {
  filesystem_->set_prefetcher(nullptr);
  prefetcher_.reset();
}

void Session::stop_uring() {
  // The threads first (the connection is gone or they see the stop): one may still be
  // answering a request, and its reply must find the transport to go back through its
  // ring; with the transport already cleared it went to the closed /dev/fuse instead.
  if (uring_) uring_->join();
  filesystem_->kernel_features().transport.store(nullptr);
  uring_.reset();
}

void Session::take_down() {
  // libfuse's request threads are gone; the io_uring ones still serve. The prefetcher
  // stops first, waiting for a READ that is pushing (the READs a push may wait for are
  // served by the other ring threads), so nothing writes to /dev/fuse once the unmount
  // closes it. Then the ring threads finish what they serve and take nothing more.
  stop_prefetch();
  if (uring_) uring_->begin_stop();
  if (mounted_) fuse_session_unmount(session_);
  mounted_ = false;
  stop_uring();
}

Session::~Session() {
  take_down();
  // Nothing serves any more: the Filesystem, and with it the audit writer thread, goes
  // before libfuse's session. fuse_session_destroy deletes a pthread key; a thread inside
  // OpenSSL's first-time set-up meanwhile could be given that lower key slot for its
  // error state, which glibc then clears at thread exit before OpenSSL's destructor (of
  // a higher key) can free it: a 904-byte leak LeakSanitizer failed a test for, about 1
  // in 450 short ASan runs. We set no ops.destroy, so libfuse calls nothing of ours there.
  filesystem_.reset();
  fuse_session_destroy(session_);
}

int Session::run() {
  fuse_loop_config* config = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(config, kMaxThreads);
  fuse_loop_cfg_set_idle_threads(config, idle_workers_);
  const int rc = fuse_session_loop_mt(session_, config);
  fuse_loop_cfg_destroy(config);
  if (before_unmount_) before_unmount_();
  take_down();
  // libfuse returns the signal number after SIGINT/SIGTERM: that is a clean end too.
  return rc < 0 ? -rc : 0;
}

void Session::exit() {
  fuse_session_exit(session_);
}

}  // namespace agentfense::fs
