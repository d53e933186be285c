#include "server/sandbox_mount.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/api_error.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/private_dir.h"
#include "policy/policy_file.h"
#include "runtime/exec.h"
#include "server/request_limits.h"
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

template <typename Call>
layer::control::Reply SandboxMount::with_client(const Call& call) const {
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
    reply = call(*client);
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

layer::control::Reply SandboxMount::control(const layer::control::Request& request,
                                            std::chrono::milliseconds timeout) const {
  return with_client(
      [&](supervisor::ControlClient& client) { return client.call(request, timeout); });
}

layer::control::Reply SandboxMount::control_by(const layer::control::Request& request,
                                               std::chrono::steady_clock::time_point deadline,
                                               std::chrono::milliseconds cap_from_now,
                                               const ReplyBytes& on_reply_bytes) const {
  const auto cap = std::chrono::steady_clock::now() + cap_from_now;
  const supervisor::ControlClient::Patience patience{
      .deadline = std::min(deadline, cap),
      .cap = cap,
      .still_alive = [this] { return answers(kPingWait); },
      .on_reply_bytes = on_reply_bytes};
  return with_client(
      [&](supervisor::ControlClient& client) { return client.call(request, patience); });
}

layer::control::Reply SandboxMount::layer_work(const layer::control::Request& request,
                                               const ReplyBytes& on_reply_bytes) const {
  return control_by(request, std::chrono::steady_clock::now() + kControlCap, kLayerWorkCap,
                    on_reply_bytes);
}

bool SandboxMount::answers(std::chrono::milliseconds within) const {
  try {
    control({.op = layer::control::Op::kPing}, within);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

void SandboxMount::abort() {
  const std::lock_guard lock(idle_mu_);  // not while stop() takes child_ away
  if (stopped_ || !child_) return;
  log::warn("sandbox.fs_aborted", {{"run_dir", run_dir_}});
  child_->abort();
}

void SandboxMount::keep_idle(std::unique_ptr<supervisor::ControlClient> client) const {
  const std::lock_guard lock(idle_mu_);
  if (!stopped_ && idle_.size() < kMaxIdleConnections) idle_.push_back(std::move(client));
}

FsNotAnswering::FsNotAnswering(int error)
    : ApiError(StatusCode::FAILED_PRECONDITION,
               std::string("the sandbox's filesystem process is not answering (") +
                   std::strerror(error) + "); stop and start the sandbox",
               kReasonSandboxNotRunning),
      error_(error) {}

FsNotAnswering fs_not_answering(int error) {
  return FsNotAnswering(error);
}

ApiError fs_not_answering_within(const FsNotAnswering& not_answering,
                                 std::chrono::milliseconds allowed) {
  const std::string nothing_run = "nothing was run in the sandbox";
  // Refused at once (the fs process exited): its own message says so.
  if (not_answering.error() != ETIMEDOUT)
    return ApiError(not_answering.code(), std::string(not_answering.what()) + "; " + nothing_run,
                    not_answering.reason());
  return ApiError(StatusCode::FAILED_PRECONDITION,
                  "the sandbox's filesystem process did not answer within " +
                      describe_seconds(allowed) + "; " + nothing_run +
                      ". The sandbox is not usable: stop it (that ends the filesystem process) "
                      "and start it again",
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
