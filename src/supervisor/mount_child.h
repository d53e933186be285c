// Starts `agentfense mount` as a supervised child process (DESIGN.md "Process model": a
// crash in one view cannot take down its supervisor) and waits until the mount is live.
// The destructor stops the child (SIGTERM, then SIGKILL after a grace period), reaps it
// and detaches any mount it left behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/child_process.h"
#include "fs/quota_limits.h"

namespace agentfense::supervisor {

struct MountChildSpec {
  // The `agentfense` binary whose `mount` subcommand serves the view. The CLI runs its
  // own (/proc/self/exe); the server runs the lean sibling binary, so no fs process
  // carries the server's gRPC/protobuf libraries.
  std::string program = "/proc/self/exe";
  std::string base_dir;
  std::string mountpoint;
  std::string state_dir;
  std::string policy_json_file;      // rules as a JSON list
  std::string audit_path;            // empty: no audit trail
  std::string audit_sandbox;         // the sandbox id its events carry
  std::int64_t audit_max_bytes = 0;  // file events past this size of the trail: counted only
  std::string control_socket;        // empty: none; else fs/control_ops.h requests (0600)
  uid_t owner_uid = 0;
  gid_t owner_gid = 0;
  fs::QuotaLimits quota = fs::kDefaultQuota;  // the write layer's limits (0 = unlimited)
  bool prewarm = false;                       // `mount --prewarm` (sandbox.prewarm)
};

class MountChild {
 public:
  // Throws SystemError if the child cannot start or the mount is not live in time.
  explicit MountChild(const MountChildSpec& spec,
                      std::chrono::milliseconds ready_timeout = std::chrono::seconds(10));
  MountChild(const MountChild&) = delete;
  MountChild& operator=(const MountChild&) = delete;
  ~MountChild();

  // Clean shutdown; returns the child's exit status (0 = unmounted cleanly).
  int stop();

  // For a child that no longer answers (stopped, deadlocked): aborts its FUSE connection
  // (what waits on the mount fails at once) and SIGKILLs it. stop() still reaps it.
  void abort();

  // Readable once the fs process has exited (it stays unreaped until stop()); -1 once
  // stopped. For a watch that notices an fs process dying on its own.
  int pidfd() const { return child_ ? child_->pidfd() : -1; }

 private:
  std::optional<ChildProcess> child_;  // empty once stopped
  std::string mountpoint_;
};

}  // namespace agentfense::supervisor
