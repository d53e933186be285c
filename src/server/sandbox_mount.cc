#include "server/sandbox_mount.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/api_error.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/private_dir.h"
#include "policy/policy_file.h"
#include "runtime/exec.h"
#include "supervisor/control_client.h"
#include "supervisor/run_dir.h"

namespace agentfense::server {
namespace {

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  if (!out.flush()) throw SystemError("write " + path, errno ? errno : EIO);
}

}  // namespace

SandboxMount::SandboxMount(const MountPlan& plan)
    : run_dir_(plan.mount_root + "/" + plan.sandbox_id) {
  (void)open_private_dir(plan.mount_root);
  supervisor::destroy_run_dir(run_dir_);  // a leftover of this id from a crashed process
  check_syscall(::mkdir(run_dir_.c_str(), 0700), "mkdir " + run_dir_);
  try {
    const std::string mountpoint = run_dir_ + "/mnt";
    check_syscall(::mkdir(mountpoint.c_str(), 0700), "mkdir " + mountpoint);
    const std::string policy_file = run_dir_ + "/policy.json";
    write_file(policy_file, policy::rules_to_json(plan.rules));
    child_ = std::make_unique<supervisor::MountChild>(
        supervisor::MountChildSpec{.program = plan.fs_program,
                                   .base_dir = plan.base_dir,
                                   .mountpoint = mountpoint,
                                   .state_dir = plan.state_dir,
                                   .policy_json_file = policy_file,
                                   .audit_path = plan.audit_path,
                                   .audit_sandbox = plan.sandbox_id,
                                   .audit_max_bytes = plan.audit_max_bytes,
                                   .control_socket = run_dir_ + "/control.sock",
                                   .owner_uid = plan.owner_uid,
                                   .owner_gid = plan.owner_gid,
                                   .quota = plan.quota,
                                   .prewarm = plan.prewarm});
    workspace_.reset(::open(mountpoint.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!workspace_) throw SystemError("open " + mountpoint, errno);
  } catch (...) {
    child_.reset();
    supervisor::destroy_run_dir(run_dir_);
    throw;
  }
}

SandboxMount::~SandboxMount() {
  stop();
}

void SandboxMount::stop() {
  {
    const std::lock_guard lock(idle_mu_);  // keep_idle() reads stopped_
    if (stopped_) return;
    stopped_ = true;
    idle_.clear();
  }
  child_.reset();  // SIGTERM, wait, SIGKILL; detaches a mount left behind
  supervisor::destroy_run_dir(run_dir_);
}

layer::control::Reply SandboxMount::control(const layer::control::Request& request,
                                            std::chrono::milliseconds timeout) const {
  std::unique_ptr<supervisor::ControlClient> client;
  {
    const std::lock_guard lock(idle_mu_);
    if (!idle_.empty()) {
      client = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  layer::control::Reply reply;
  try {
    if (!client) client = std::make_unique<supervisor::ControlClient>(run_dir_ + "/control.sock");
    reply = client->call(request, timeout);
  } catch (const layer::control::Refused&) {
    keep_idle(std::move(client));  // a complete answer: the connection is still in step
    throw;
  } catch (const SystemError& unreachable) {
    // The fs process exited (crashed, was killed) or no longer answers. The caller learns
    // that and what to do; the socket's path (the server's data layout) stays in the log.
    log::warn("sandbox.fs_unreachable", {{"run_dir", run_dir_}, {"error", unreachable.what()}});
    throw fs_not_answering(unreachable.code());
  }
  keep_idle(std::move(client));
  return reply;
}

void SandboxMount::keep_idle(std::unique_ptr<supervisor::ControlClient> client) const {
  const std::lock_guard lock(idle_mu_);
  if (!stopped_ && idle_.size() < kMaxIdleConnections) idle_.push_back(std::move(client));
}

ApiError fs_not_answering(int error) {
  return ApiError(StatusCode::FAILED_PRECONDITION,
                  std::string("the sandbox's filesystem process is not answering (") +
                      std::strerror(error) + "); stop and start the sandbox",
                  kReasonSandboxNotRunning);
}

int sweep_mount_root(const std::string& mount_root) {
  std::error_code ec;
  int removed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(mount_root, ec)) {
    supervisor::destroy_run_dir(entry.path());
    ++removed;
  }
  return removed;
}

}  // namespace agentfense::server
