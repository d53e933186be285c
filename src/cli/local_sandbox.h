// One sandbox over a local directory, as `agentfense run` and `agentfense mcp` use it: the
// compiled policy, the codebase opened once, the host ids leased for this sandbox, a
// private run directory, the fs process serving /workspace (with a control socket into
// it for review while mounted) and the O_PATH fd commands get as /workspace.
//
// The lifetime is a chain of RAII members, so an error anywhere leaves no mount, process,
// lease or directory behind. After stop() the view is gone but the write layer stays
// until destruction, so review() can show, apply or discard it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cli/change_review.h"
#include "cli/policy_options.h"
#include "cli/quota_options.h"
#include "common/unique_fd.h"
#include "fs/quota_limits.h"
#include "layer/control_protocol.h"
#include "policy/policy.h"
#include "runtime/exec.h"
#include "supervisor/host_ids.h"
#include "supervisor/run_dir.h"

namespace agentfense::supervisor {
class MountChild;
class ControlClient;
}  // namespace agentfense::supervisor

namespace agentfense::cli {

struct LocalSandboxSpec {
  std::vector<policy::Rule> rules;
  std::string dir;                   // the codebase
  std::string audit;                 // JSON-lines audit file; empty = none
  std::int64_t audit_max_bytes = 0;  // file events past this trail size: counted only
  fs::QuotaLimits quota = fs::kDefaultQuota;
  bool control_socket = false;  // serve control() requests while mounted
  // Walk the codebase in the background from the start (`mount --prewarm`, as server
  // sandboxes do): a first grep -r or tar finds much of it known already.
  bool prewarm = false;
  // Called with the sandbox's id (its run directory's name, run-<pid>-<random>) once the
  // run directory exists and before the fs process starts: `run --audit` opens the trail
  // with the sandbox's rules there, ahead of the fs process's first event.
  std::function<void(const std::string& sandbox_id)> before_mount;
};

// The spec `run` and `mcp` both build from their shared flags: the policy's (rules
// first, so a bad rule is named first), the quota's, DIR and --audit (refused inside
// DIR: cli/trail_location.h).
LocalSandboxSpec local_sandbox_spec(const PolicyOptions& policy, const QuotaOptions& quota,
                                    const std::string& dir, const std::string& audit,
                                    const std::string& audit_max_bytes);

class LocalSandbox {
 public:
  // Throws UserError for a bad directory, SystemError when a step of the set-up fails.
  explicit LocalSandbox(const LocalSandboxSpec& spec);
  LocalSandbox(const LocalSandbox&) = delete;
  LocalSandbox& operator=(const LocalSandbox&) = delete;
  ~LocalSandbox();

  const policy::Policy& policy() const { return policy_; }
  uid_t host_uid() const { return uid_; }
  gid_t host_gid() const { return gid_; }
  int workspace_fd() const { return workspace_.get(); }
  std::string mountpoint() const { return run_dir_.mountpoint(); }
  // The run directory's name: what identifies this sandbox in its audit trail.
  std::string sandbox_id() const;

  // Fills in what every command of this sandbox shares: /workspace and the host ids.
  void prepare(runtime::ExecSpec& spec) const;

  // One request to the live fs process (layer/control_protocol.h); needs
  // spec.control_socket. Serialized: the fs process answers one request at a time per
  // connection.
  layer::control::Reply control(const layer::control::Request& request,
                                std::chrono::milliseconds timeout = std::chrono::seconds(120));

  // Unmounts and stops the fs process; returns its exit status (0 = clean). Idempotent.
  int stop();

  // After stop(): what `run --changes` does with the write layer. True when everything
  // asked for reached the codebase (see change_review.h).
  bool review(ChangeMode mode) const;

  // How `run` and `mcp` end: stop() (saying on stderr when the fs process failed), then
  // review(mode).
  bool finish(ChangeMode mode);

 private:
  policy::Policy policy_;
  std::uint64_t max_apply_bytes_;  // the quota's bytes (0: no limit), for review()
  UniqueFd base_;
  std::optional<supervisor::HostIdLease> ids_;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  supervisor::RunDir run_dir_;
  std::unique_ptr<supervisor::MountChild> mount_;
  UniqueFd workspace_;
  std::mutex control_mu_;
  std::unique_ptr<supervisor::ControlClient> control_;
  bool has_control_ = false;
};

}  // namespace agentfense::cli
