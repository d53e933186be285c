#include "cli/local_sandbox.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "cli/trail_location.h"
#include "common/errors.h"
#include "common/id_range.h"
#include "policy/policy_file.h"
#include "supervisor/base_dir.h"
#include "supervisor/control_client.h"
#include "supervisor/mount_child.h"
#include "supervisor/sibling_binary.h"

namespace agentfense::cli {
namespace {

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  if (!out.flush()) throw SystemError("write " + path, errno ? errno : EIO);
}

// As root the sandbox runs as a host id of its own, leased for its lifetime only;
// rootless it runs as the caller (docs/rootless.md).
std::optional<supervisor::HostIdLease> lease_ids() {
  if (::geteuid() != 0) return std::nullopt;
  return supervisor::HostIdLease::acquire(kDefaultIdRange);
}

}  // namespace

LocalSandbox::LocalSandbox(const LocalSandboxSpec& spec)
    : policy_(policy::Policy::compile(spec.rules)),
      max_apply_bytes_(spec.quota.bytes),
      base_(supervisor::open_base_dir(spec.dir)),
      ids_(lease_ids()),
      run_dir_(supervisor::RunDir::create()) {
  if (ids_) {
    uid_ = ids_->uid();
    gid_ = ids_->gid();
  } else {
    // Rootless: bwrap can map the agent's ids to ours only, so the mount is presented as
    // ours and is private to us (no allow_other; see fs/session.cc).
    uid_ = ::getuid();
    gid_ = ::getgid();
  }
  const std::string policy_file = run_dir_.path() + "/policy.json";
  write_file(policy_file, policy::rules_to_json(spec.rules));
  has_control_ = spec.control_socket;
  if (spec.before_mount) spec.before_mount(sandbox_id());
  mount_ = std::make_unique<supervisor::MountChild>(supervisor::MountChildSpec{
      .program = supervisor::fs_program(),
      .base_dir = spec.dir,
      .mountpoint = run_dir_.mountpoint(),
      .state_dir = run_dir_.state_dir(),
      .policy_json_file = policy_file,
      .audit_path = spec.audit,
      .audit_sandbox = sandbox_id(),
      .audit_max_bytes = spec.audit_max_bytes,
      .control_socket = has_control_ ? run_dir_.path() + "/control.sock" : "",
      .owner_uid = uid_,
      .owner_gid = gid_,
      .quota = spec.quota,
      .prewarm = spec.prewarm});
  workspace_.reset(::open(run_dir_.mountpoint().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!workspace_) throw SystemError("open mountpoint", errno);
}

std::string LocalSandbox::sandbox_id() const {
  const std::string& path = run_dir_.path();
  return path.substr(path.rfind('/') + 1);
}

LocalSandbox::~LocalSandbox() {
  control_.reset();
  workspace_.reset();
  mount_.reset();  // stops the fs process if stop() was not called; run_dir_ then goes
}

void LocalSandbox::prepare(runtime::ExecSpec& spec) const {
  spec.workspace_fd = workspace_.get();
  spec.host_uid = uid_;
  spec.host_gid = gid_;
}

layer::control::Reply LocalSandbox::control(const layer::control::Request& request,
                                            std::chrono::milliseconds timeout) {
  if (!has_control_) throw UserError("this sandbox has no control socket");
  std::lock_guard lock(control_mu_);
  if (!mount_) throw UserError("the sandbox is stopped");
  // ControlClient closes a connection for good after an I/O failure: the next call
  // connects again. No retry here: a request that timed out may still have run.
  if (!control_)
    control_ = std::make_unique<supervisor::ControlClient>(run_dir_.path() + "/control.sock");
  try {
    return control_->call(request, timeout);
  } catch (const supervisor::ControlError&) {
    throw;  // an answer: the request itself failed, the connection is fine
  } catch (const SystemError&) {
    control_.reset();
    throw;
  }
}

int LocalSandbox::stop() {
  std::lock_guard lock(control_mu_);
  control_.reset();
  workspace_.reset();
  if (!mount_) return 0;
  const int status = mount_->stop();
  mount_.reset();
  return status;
}

bool LocalSandbox::review(ChangeMode mode) const {
  return review_changes(mode, base_.get(), run_dir_.state_dir(), policy_, max_apply_bytes_);
}

bool LocalSandbox::finish(ChangeMode mode) {
  if (const int status = stop(); status != 0)
    std::fprintf(stderr, "agentfense: mount process exited with status %d\n", status);
  return review(mode);
}

LocalSandboxSpec local_sandbox_spec(const PolicyOptions& policy, const QuotaOptions& quota,
                                    const std::string& dir, const std::string& audit,
                                    const std::string& max_bytes) {
  LocalSandboxSpec spec;
  spec.rules = policy.collect();
  spec.quota = quota.limits();
  spec.dir = dir;
  check_trail_outside(audit, dir);
  spec.audit = audit;
  spec.audit_max_bytes = audit_max_bytes(max_bytes);
  return spec;
}

}  // namespace agentfense::cli
