// The live permission filesystem of one sandbox: its fs process (supervisor::MountChild),
// the mountpoint under the server's root-only mount directory, and the control socket
// into the fs process. RAII: destruction stops the fs process and removes the run
// directory; the write layer (state_dir) is persistent and stays.
//
// Layout: <mount_root>/<sandbox id>/{mnt, control.sock, policy.json}.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/api_error.h"
#include "common/unique_fd.h"
#include "layer/control_protocol.h"
#include "policy/rule.h"
#include "supervisor/control_client.h"
#include "supervisor/mount_child.h"

namespace agentfense::server {

struct MountPlan {
  std::string fs_program;  // the `agentfense` binary that serves the mount
  std::string sandbox_id;
  std::string base_dir;              // the codebase's files
  std::string state_dir;             // upper layer + journal, kept across stop/start and restarts
  std::string audit_path;            // JSON-lines audit log of the sandbox
  std::int64_t audit_max_bytes = 0;  // what its file events may write there; 0 = no limit
  std::string mount_root;            // storage.mount_path
  std::vector<policy::Rule> rules;
  fs::QuotaLimits quota;  // the write layer's limits (0 = unlimited)
  uid_t owner_uid = 0;    // the sandbox's host ids: every file is presented as theirs
  gid_t owner_gid = 0;
  bool prewarm = false;  // sandbox.prewarm: warm the kernel's caches once mounted
};

class SandboxMount {
 public:
  // Throws SystemError/UserError when the fs process cannot start or mount in time.
  explicit SandboxMount(const MountPlan& plan);
  SandboxMount(const SandboxMount&) = delete;
  SandboxMount& operator=(const SandboxMount&) = delete;
  ~SandboxMount();

  // Stops the fs process (waiting until it is gone) and removes the run directory now,
  // not at destruction: the sandbox may be started again (the same run directory, the
  // same write layer) while something still holds this object. Afterwards control()
  // fails and the workspace fd reaches nothing (it stays open, so its number is never
  // reused under a late caller). Idempotent; a concurrent control() fails.
  void stop();

  // The fs process's pidfd (supervisor::MountChild::pidfd); -1 once stopped.
  int fs_pidfd() const { return child_ ? child_->pidfd() : -1; }

  // O_PATH fd of the mountpoint, for the runtime's /workspace.
  int workspace_fd() const { return workspace_.get(); }
  // Its host path (root-only), for a runtime that binds by path (dockerd).
  std::string mountpoint() const { return run_dir_ + "/mnt"; }
  // One request over the control socket; throws when the fs process answers ok=false or
  // cannot be reached. Connections are kept open between calls (each costs the fs
  // process a thread and us a connect otherwise: a command makes two or three calls);
  // concurrent calls each get one of their own.
  layer::control::Reply control(const layer::control::Request& request,
                                std::chrono::milliseconds timeout = kControlCap) const;
  using ReplyBytes = std::function<void(std::size_t)>;
  // As control(), for a request whose caller has a deadline: past it, waits on only while
  // the fs process answers a ping (a live one busy with a large commit), up to `cap` from
  // now; a hung one fails the call at `deadline`.
  // `on_reply_bytes`: ControlClient::Patience's (a caller counting the reply's memory).
  layer::control::Reply control_by(const layer::control::Request& request,
                                   std::chrono::steady_clock::time_point deadline,
                                   std::chrono::milliseconds cap = kControlCap,
                                   const ReplyBytes& on_reply_bytes = {}) const;
  // control() for work on the write layer (commit, diff, changes, discard): kControlCap,
  // then on while the fs process answers pings, up to kLayerWorkCap. A commit of 100,000
  // files takes minutes; cut at 60 s it was reported as "not answering; stop and start"
  // while the fs process went on and applied it, and every layer call failed meanwhile.
  layer::control::Reply layer_work(const layer::control::Request& request,
                                   const ReplyBytes& on_reply_bytes = {}) const;
  // Whether the fs process answers a ping within `within` (it serves pings on a thread of
  // their own, so a long commit does not delay one).
  bool answers(std::chrono::milliseconds within) const;
  // For an fs process that does not answer: aborts its FUSE connection and kills it, so
  // that whatever waits on the mount (commands, file calls) fails at once. stop() still
  // reaps it and removes the run directory.
  void abort();

  // The longest a control request waits for its answer, unless the fs process shows it
  // is alive and busy (control_by).
  static constexpr std::chrono::milliseconds kControlCap{60000};
  // The longest work on the write layer is waited for while the fs process is alive.
  static constexpr std::chrono::milliseconds kLayerWorkCap{30 * 60 * 1000};
  // How long a ping may go unanswered before the fs process counts as hung.
  static constexpr std::chrono::milliseconds kPingWait{3000};

 private:
  template <typename Call>
  layer::control::Reply with_client(const Call& call) const;
  std::string run_dir_;
  std::unique_ptr<supervisor::MountChild> child_;
  UniqueFd workspace_;
  bool stopped_ = false;  // guarded by idle_mu_
  static constexpr std::size_t kMaxIdleConnections = 4;
  void keep_idle(std::unique_ptr<supervisor::ControlClient> client) const;
  // Open connections not in use; one that failed is dropped, never put back.
  mutable std::mutex idle_mu_;
  mutable std::vector<std::unique_ptr<supervisor::ControlClient>> idle_;
};

// What a call that could not reach the fs process answers (FAILED_PRECONDITION,
// SANDBOX_NOT_RUNNING): through its control socket (ECONNREFUSED, ENOENT, ETIMEDOUT) or
// its mount (ENOTCONN: "Transport endpoint is not connected"). error() is that errno.
class FsNotAnswering : public ApiError {
 public:
  explicit FsNotAnswering(int error);
  int error() const { return error_; }

 private:
  int error_;
};
FsNotAnswering fs_not_answering(int error);
// The same for a call that gave the fs process `allowed` to answer and so ran nothing in
// the sandbox: says how long it waited when it gave up waiting (ETIMEDOUT).
ApiError fs_not_answering_within(const FsNotAnswering& not_answering,
                                 std::chrono::milliseconds allowed);

// Removes run directories left under mount_root by a previous server process (crash,
// kill -9): detaches their mounts and deletes them. Returns how many.
int sweep_mount_root(const std::string& mount_root);

}  // namespace agentfense::server
