// Public entry point of the permission filesystem: serve one sandbox's filtered, layered
// view of a codebase at a mountpoint until told to stop.
#pragma once

#include <sys/types.h>

#include <string>

#include "fs/quota_limits.h"
#include "policy/policy.h"

namespace agentfense::fs {

struct MountOptions {
  int base_dirfd = -1;    // O_PATH|O_DIRECTORY fd of the codebase root (serve dups it)
  std::string state_dir;  // upper layer + journal (layer::Journal::open)
  std::string mountpoint;
  const policy::Policy* policy = nullptr;
  uid_t owner_uid = 0;  // every file is presented as owned by these
  gid_t owner_gid = 0;
  std::string audit_path;            // audit trail (docs/audit.md); empty = off
  std::string audit_sandbox;         // the sandbox id its events carry
  std::int64_t audit_max_bytes = 0;  // file events past this size of the trail: counted only
  int ready_fd = -1;                 // if >= 0: one byte is written, then it is closed, once live
  // If set: serve control requests (control_ops.h) on a unix socket created here (mode
  // 0600, removed at exit), ready before ready_fd is signalled.
  std::string control_socket;
  bool debug = false;
  // Push small read-only files into the page cache once a directory is being read
  // (prefetch.h). Off only in tests that count READ requests.
  bool prefetch = true;
  // Once live, warm the kernel's caches in the background (prewarm_walk.h), walking as
  // owner_uid/owner_gid; for a server sandbox, whose first command comes later.
  bool prewarm = false;
  // Take requests over io_uring when the kernel offers it (uring_transport.h: kernel
  // 6.14+ with fuse.enable_uring=Y), else through /dev/fuse. Off only to compare the two.
  bool uring = true;
  // libfuse worker threads left waiting on /dev/fuse; more that fall idle exit. Tests set
  // 1 so that the worker that answered the kernel's INIT exits right after it.
  unsigned idle_workers = 4;
  // The root presents no group/other permission bits, so that only the owner (and root)
  // can enter the view: a person's `agentfense mount` as root mounts with allow_other
  // (the owner is the sudo user) at a mountpoint anyone may reach, and the view's root
  // would otherwise open a private directory's files to every local user.
  bool private_root = false;
  // Write-layer limits (write_quota.h): beyond them the agent gets ENOSPC and statfs
  // (`df`) reports them instead of the host disk. Zero members mean unlimited.
  QuotaLimits quota;
};

// Mounts, serves multi-threaded until SIGINT/SIGTERM (clean unmount) or an external
// unmount; returns 0 on clean shutdown, throws SystemError on mount failure.
int serve(const MountOptions& options);

}  // namespace agentfense::fs
