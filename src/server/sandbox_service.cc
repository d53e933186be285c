// Sandbox lifecycle: create, get, list, start, stop, destroy, expiry, recovery.
#include "server/sandbox_service.h"

#include <sys/wait.h>

#include <filesystem>
#include <set>
#include <thread>

#include "common/errors.h"
#include "common/log.h"
#include "runtime/cgroup.h"
#include "server/caller_scope.h"
#include "server/commit_room.h"
#include "server/error_status.h"
#include "server/orphan_fs.h"
#include "server/policy_warnings.h"
#include "server/principal_share.h"
#include "server/proto_json.h"
#include "server/proto_time.h"
#include "server/quota_owner.h"
#include "server/request_limits.h"
#include "server/rules.h"
#include "server/write_layer.h"
#include "store/ids.h"

namespace agentfense::server {
namespace {

bool sync_on_complete(const v1::Sandbox& sandbox) {
  return sandbox.sync_mode() != v1::SYNC_MODE_MANUAL;
}

runtime::Limits limits_from_wire(const v1::ResourceLimits& r) {
  return {.memory_bytes = r.memory_bytes(),
          .cpu_quota = r.cpu_quota(),
          .cpu_shares = r.cpu_shares(),
          .pids_limit = r.pids_limit()};
}

// What a watched fs process's end was: "filesystem process exited (signal 9)" or
// "(status 1)". Read without reaping it (the stop that follows does).
std::string describe_fs_exit(int pidfd) {
  siginfo_t info{};
  if (::waitid(P_PIDFD, static_cast<id_t>(pidfd), &info, WEXITED | WNOHANG | WNOWAIT) < 0 ||
      info.si_pid == 0)
    return "filesystem process exited";
  const bool signalled = info.si_code == CLD_KILLED || info.si_code == CLD_DUMPED;
  return std::string("filesystem process exited (") + (signalled ? "signal " : "status ") +
         std::to_string(info.si_status) + ")";
}

constexpr auto kMaxExpiresIn = std::chrono::hours(24 * 36525);  // 100 years

// What cgroups accept (cpu.shares 2-262144), what is meaningful (a quota of more CPUs than
// the host has), and a floor under which the sandbox's own processes cannot start (its
// init, the Docker runtime's keeper and prologue, the shell): values outside were
// accepted and then failed every start or exec as INTERNAL or RUNTIME_UNAVAILABLE.
constexpr std::int64_t kMinCpuShares = 2, kMaxCpuShares = 262'144, kMinPids = 8;
// A session's shell and its driver, or the prologue of a command, must fit: 1 byte was
// accepted and every CreateSession then failed with INTERNAL "No child processes".
constexpr std::int64_t kMinMemoryBytes = 16 << 20;

void validate_limits(const v1::ResourceLimits& r) {
  if (r.memory_bytes() < 0 || r.cpu_quota() < 0 || r.cpu_shares() < 0 || r.pids_limit() < 0)
    throw ApiError(StatusCode::INVALID_ARGUMENT, "resources: limits must not be negative");
  if (r.cpu_shares() > 0 && (r.cpu_shares() < kMinCpuShares || r.cpu_shares() > kMaxCpuShares))
    throw ApiError(StatusCode::INVALID_ARGUMENT,
                   "resources.cpu_shares " + std::to_string(r.cpu_shares()) +
                       " is outside 2 to 262144 (1024 = one CPU's default weight)");
  if (r.memory_bytes() > 0 && r.memory_bytes() < kMinMemoryBytes)
    throw ApiError(StatusCode::INVALID_ARGUMENT,
                   "resources.memory_bytes " + std::to_string(r.memory_bytes()) +
                       " is below 16 MiB: the sandbox's shell and helpers need that much");
  if (r.pids_limit() > 0 && r.pids_limit() < kMinPids)
    throw ApiError(StatusCode::INVALID_ARGUMENT,
                   "resources.pids_limit " + std::to_string(r.pids_limit()) +
                       " is below 8: the sandbox's own processes need some of them");
  const std::int64_t cpus = std::max(1u, std::thread::hardware_concurrency());
  if (r.cpu_quota() > runtime::kCpuPeriod * cpus)
    throw ApiError(StatusCode::INVALID_ARGUMENT,
                   "resources.cpu_quota " + std::to_string(r.cpu_quota()) +
                       " is more than this host's " + std::to_string(cpus) + " CPUs (" +
                       std::to_string(runtime::kCpuPeriod) + " per CPU)");
  if (r.cpu_quota() > 0 && r.cpu_quota() < runtime::kMinCpuQuota)
    throw ApiError(StatusCode::INVALID_ARGUMENT,
                   "resources.cpu_quota " + std::to_string(r.cpu_quota()) +
                       " is below 1000: it is microseconds of CPU per 100 ms period (Docker's "
                       "unit; 25000 = a quarter of one CPU)");
}

std::vector<policy::Rule> rules_of(const v1::Sandbox& sandbox) {
  return rules_from_wire(sandbox.permissions());
}

nlohmann::ordered_json json_of(const google::protobuf::Message& message) {
  return nlohmann::ordered_json::parse(MessageToJson(message));
}

// What a sandbox_created event says about the sandbox: everything that decides what its
// commands may do.
nlohmann::ordered_json created_details(const v1::Sandbox& sandbox, const std::string& owner) {
  nlohmann::ordered_json rules = nlohmann::ordered_json::array();
  for (const auto& rule : sandbox.permissions()) rules.push_back(json_of(rule));
  nlohmann::ordered_json labels = nlohmann::ordered_json::object();
  for (const auto& [key, value] : sandbox.labels()) labels[key] = value;
  return {{"owner", owner},
          {"codebase_id", sandbox.codebase_id()},
          {"rules", rules},
          {"runtime", v1::RuntimeType_Name(sandbox.runtime())},
          {"image", sandbox.image()},
          {"limits", json_of(sandbox.resources())},
          {"sync_mode", v1::SyncMode_Name(sandbox.sync_mode())},
          {"labels", labels}};
}

}  // namespace

SandboxService::SandboxService(SandboxServiceOptions options, store::CodebaseStore& codebases,
                               store::SandboxRecords& sandboxes, store::SessionRecords& sessions,
                               SpawnerThread& spawner)
    : options_(std::move(options)),
      codebases_(codebases),
      sandboxes_(sandboxes),
      sessions_(sessions),
      spawner_(spawner),
      stats_([&codebases](const std::string& id) { codebases.recount(id); }) {
  std::filesystem::create_directories(trash_dir());
}

SandboxService::~SandboxService() {
  shutdown();
}

void SandboxService::audit(const std::string& sandbox_id, const std::string& op,
                           nlohmann::ordered_json details, bool allowed) const {
  if (!options_.audit) return;
  const PrincipalPtr& caller = current_caller();
  // Outside any call (expiry, restart) the server itself acts.
  nlohmann::ordered_json fields = {{"caller", caller ? caller->id : std::string("server")}};
  for (const auto& [key, value] : details.items()) fields[key] = value;
  options_.audit->record(sandbox_id, op, std::move(fields), allowed);
}

std::string SandboxService::state_dir(const std::string& id) const {
  return options_.sandboxes_dir + "/" + id;
}

// Inside sandboxes_dir, so moving a tree there is a rename on the same file system; no
// sandbox id starts with a dot.
std::string SandboxService::trash_dir() const {
  return options_.sandboxes_dir + "/.trash";
}

SandboxRuntime SandboxService::runtime_of(const v1::Sandbox& sandbox) const {
  const bool docker = sandbox.runtime() == v1::RUNTIME_TYPE_DOCKER;
  return {
      .type = docker ? v1::RUNTIME_TYPE_DOCKER : v1::RUNTIME_TYPE_BWRAP,
      .image = docker && sandbox.image().empty() ? options_.docker.default_image : sandbox.image(),
      .docker = options_.docker};
}

v1::Sandbox SandboxService::load(const std::string& id) const {
  if (id.empty()) throw ApiError(StatusCode::INVALID_ARGUMENT, "sandbox_id is required");
  auto sandbox = sandboxes_.get(id);
  if (!sandbox)
    throw ApiError(StatusCode::NOT_FOUND, "sandbox " + escape_user_text(id) + " not found",
                   kReasonSandboxNotFound);
  return *sandbox;
}

std::shared_ptr<LiveSandbox> SandboxService::find_live(const std::string& id) const {
  const std::lock_guard lock(live_mu_);
  const auto it = live_.find(id);
  return it == live_.end() ? nullptr : it->second;
}

std::shared_ptr<LiveSandbox> SandboxService::running(const std::string& id) const {
  if (auto live = find_live(id)) return live;
  const v1::Sandbox sandbox = load(id);  // NOT_FOUND first, then not running
  throw ApiError(StatusCode::FAILED_PRECONDITION,
                 "sandbox " + escape_user_text(id) + " is not running (status " +
                     v1::SandboxStatus_Name(sandbox.status()) + "); start it first",
                 kReasonSandboxNotRunning);
}

std::size_t SandboxService::live_count() const {
  const std::lock_guard lock(live_mu_);
  return live_.size();
}

v1::Sandbox SandboxService::CreateSandbox(const v1::CreateSandboxRequest& request) {
  const v1::Codebase codebase = codebases_.get(request.codebase_id());  // NOT_FOUND
  const std::string holder = caller_holder();
  check_change_answer_room(request, "CreateSandbox", holder);  // its answer repeats it
  const policy::Policy policy =
      compiled(request.permissions(), "CreateSandbox", holder);  // INVALID_ARGUMENT
  validate_limits(request.resources());
  check_labels({request.labels().begin(), request.labels().end()});
  check_stored_text("image", request.image(), kMaxImageBytes);
  // Numbers outside the enums (a gRPC client may send any): refused, not run as bwrap or
  // synced as if ON_COMMAND_COMPLETE had been asked.
  if (!v1::RuntimeType_IsValid(request.runtime()))
    throw ApiError(StatusCode::INVALID_ARGUMENT,
                   "unknown runtime " + std::to_string(request.runtime()) +
                       " (RUNTIME_TYPE_UNSPECIFIED, RUNTIME_TYPE_BWRAP or RUNTIME_TYPE_DOCKER)",
                   kReasonInvalidRequest);
  if (!v1::SyncMode_IsValid(request.sync_mode()))
    throw ApiError(
        StatusCode::INVALID_ARGUMENT,
        "unknown sync_mode " + std::to_string(request.sync_mode()) +
            " (SYNC_MODE_UNSPECIFIED, SYNC_MODE_ON_COMMAND_COMPLETE or SYNC_MODE_MANUAL)",
        kReasonInvalidRequest);
  const v1::ResourceLimits resources = with_disk_quota(request.resources(), options_.disk);
  // RUNTIME_TYPE_UNSPECIFIED means the server's runtime.type.
  const v1::RuntimeType runtime = request.runtime() == v1::RUNTIME_TYPE_UNSPECIFIED
                                      ? options_.default_runtime
                                      : request.runtime();
  v1::Sandbox sandbox;
  sandbox.set_runtime(runtime);
  // A docker sandbox records its image (runtime.docker.default_image when none is asked).
  sandbox.set_image(runtime == v1::RUNTIME_TYPE_DOCKER && request.image().empty()
                        ? options_.docker.default_image
                        : request.image());
  check_runtime_available(runtime_of(sandbox));  // dockerd answers, the image is there
  if (request.has_expires_in() && to_millis(request.expires_in()).count() < 0)
    throw ApiError(StatusCode::INVALID_ARGUMENT, "expires_in must not be negative");
  // Far enough for anyone, near enough that now + expires_in is a time the clock holds.
  if (request.has_expires_in() && to_millis(request.expires_in()) > kMaxExpiresIn)
    throw ApiError(StatusCode::INVALID_ARGUMENT,
                   "expires_in must be at most 100 years (0 = the sandbox never expires)");
  // Outside the lock: the walk reads the codebase (usually not at all: see the header).
  const std::vector<std::string> warnings =
      policy_warnings(policy, codebases_.files_dir(codebase.id()));

  // The count and the insertion below are one step (sandbox.max_per_user is exact).
  const std::lock_guard lock(create_mu_);
  const std::string owner = quota_owner(codebase);
  if (options_.max_per_user > 0 && sandboxes_.count_for_owner(owner) >= options_.max_per_user)
    throw ApiError(StatusCode::RESOURCE_EXHAUSTED,
                   "owner '" + owner + "' already has " + std::to_string(options_.max_per_user) +
                       " sandboxes (sandbox.max_per_user); destroy some first",
                   kReasonQuotaExceeded);
  sandbox.set_id(store::new_id("sb_"));
  sandbox.set_codebase_id(codebase.id());
  *sandbox.mutable_permissions() = request.permissions();
  sandbox.set_status(v1::SANDBOX_STATUS_PENDING);
  *sandbox.mutable_labels() = request.labels();
  const auto now = std::chrono::system_clock::now();
  *sandbox.mutable_created_at() = to_timestamp(now);
  const auto expires_in =
      request.has_expires_in() ? to_millis(request.expires_in()) : options_.default_expiration;
  if (expires_in.count() > 0) *sandbox.mutable_expires_at() = to_timestamp(now + expires_in);
  *sandbox.mutable_resources() = resources;
  sandbox.set_sync_mode(request.sync_mode() == v1::SYNC_MODE_MANUAL
                            ? v1::SYNC_MODE_MANUAL
                            : v1::SYNC_MODE_ON_COMMAND_COMPLETE);
  std::filesystem::create_directories(state_dir(sandbox.id()) + "/state");
  sandboxes_.put(sandbox);
  log::info("sandbox.created", {{"sandbox_id", sandbox.id()}, {"codebase_id", codebase.id()}});
  if (options_.audit) options_.audit->set_owner(sandbox.id(), owner);
  audit(sandbox.id(), "sandbox_created", created_details(sandbox, owner));
  // Returned by this call only, not stored: they describe the codebase as it is now.
  for (const std::string& warning : warnings) {
    log::warn("sandbox.policy_warning", {{"sandbox_id", sandbox.id()}, {"warning", warning}});
    sandbox.add_warnings(warning);
  }
  hold_change_answer(sandbox, "CreateSandbox", holder);
  return sandbox;
}

v1::Sandbox SandboxService::GetSandbox(const v1::GetSandboxRequest& request) {
  v1::Sandbox sandbox = load(request.sandbox_id());
  hold_read_answer(sandbox, "GetSandbox", caller_holder());
  return sandbox;
}

v1::ListSandboxesResponse SandboxService::ListSandboxes(const v1::ListSandboxesRequest& request) {
  v1::ListSandboxesResponse page =
      sandboxes_.list(request.codebase_id(), request.page_size(), request.page_token());
  hold_read_answer(page, "ListSandboxes", caller_holder());
  return page;
}

v1::Sandbox SandboxService::StartSandbox(const v1::StartSandboxRequest& request) {
  // This sandbox's lock only: its mount may take seconds to come up, and meanwhile every
  // other sandbox is started, stopped and used as usual.
  const SandboxLocks::Guard lock = locks_.lock(request.sandbox_id());
  v1::Sandbox sandbox = load(request.sandbox_id());
  if (find_live(sandbox.id())) {  // already running: idempotent
    hold_read_answer(sandbox, "StartSandbox", caller_holder());
    return sandbox;
  }
  const std::string holder = caller_holder();
  check_change_answer_room(sandbox, "StartSandbox", holder);
  const auto started = std::chrono::steady_clock::now();
  try {
    LiveSandboxPlan plan{
        .codebase_id = sandbox.codebase_id(),
        .mount = {.fs_program = options_.fs_program,
                  .sandbox_id = sandbox.id(),
                  .base_dir = codebases_.files_dir(sandbox.codebase_id()),
                  .state_dir = state_dir(sandbox.id()) + "/state",
                  .audit_path = options_.audit ? options_.audit->path(sandbox.id())
                                               : state_dir(sandbox.id()) + "/audit.jsonl",
                  .audit_max_bytes = options_.audit ? options_.audit->max_sandbox_bytes() : 0,
                  .mount_root = options_.mount_root,
                  .rules = rules_of(sandbox),
                  .quota = disk_quota_of(sandbox.resources(), options_.disk),
                  .prewarm = options_.prewarm},
        .limits = limits_from_wire(process_limits_of(sandbox.resources(), options_.disk)),
        .output_limit = options_.output_limit,
        .sync_on_complete = sync_on_complete(sandbox),
        .max_sessions = options_.max_sessions_per_sandbox,
        .id_range = options_.id_range,
        .runtime = runtime_of(sandbox),
        .reserve_commit_room =
            [this, codebase = sandbox.codebase_id()](std::int64_t pending) {
              return reserve_commit_room(codebases_, codebase, pending);
            },
        .commit_room_unused = [this, codebase = sandbox.codebase_id()] { stats_.mark(codebase); }};
    std::filesystem::create_directories(plan.mount.state_dir);
    // Not probed for a holder first: taking the state lock here, even for a moment, could
    // reach a child the server forks meanwhile, and the new fs process then found its own
    // layer locked (CI: 1 of 150 concurrent starts). A layer held by an fs process that
    // recovery could not end fails the start (INTERNAL; the log names the holder).
    std::shared_ptr<LiveSandbox> live;
    {
      const std::int64_t cost = compile_cost(sandbox.permissions());  // parses every pattern
      auto kept = kept_rules_charge(cost, holder);
      const auto compiling = compile_charge(cost, "StartSandbox", holder);
      spawner_.run([&] { live = std::make_shared<LiveSandbox>(plan, std::move(kept)); });
    }
    {
      const std::lock_guard live_lock(live_mu_);
      live_[sandbox.id()] = live;
    }
    watch_fs(sandbox.id(), live);
  } catch (const ApiError&) {
    throw;
  } catch (const std::exception& error) {
    // The raw error names the server's own paths ("open id lease /run/agentfense/ids/...:
    // Too many open files"): it goes to the server log under an id; the caller, the
    // sandbox record and its audit trail get the kind of failure and that id.
    const ErrorInfo described = DescribeError(std::current_exception(), "StartSandbox");
    sandbox.set_status(v1::SANDBOX_STATUS_ERROR);
    sandbox.set_error_message("start failed: " + described.message);
    sandboxes_.put(sandbox);
    log::error("sandbox.start_failed", {{"sandbox_id", sandbox.id()}, {"error", error.what()}});
    audit(sandbox.id(), "sandbox_start_failed", {{"error", described.message}}, false);
    throw ApiError(described.code,
                   "sandbox " + sandbox.id() + " failed to start: " + described.message);
  }
  sandbox.set_status(v1::SANDBOX_STATUS_RUNNING);
  sandbox.clear_error_message();
  *sandbox.mutable_started_at() = now_timestamp();
  sandbox.clear_stopped_at();
  sandboxes_.put(sandbox);
  audit(sandbox.id(), "sandbox_started");
  log::info(
      "sandbox.started",
      {{"sandbox_id", sandbox.id()},
       {"ms", std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
                  .count()}});
  hold_change_answer(sandbox, "StartSandbox", holder);
  return sandbox;
}

void SandboxService::stop_locked(v1::Sandbox& sandbox, const std::string& why,
                                 v1::SandboxStatus status) {
  std::shared_ptr<LiveSandbox> live;
  {
    const std::lock_guard lock(live_mu_);
    if (const auto it = live_.find(sandbox.id()); it != live_.end()) {
      live = std::move(it->second);
      live_.erase(it);
    }
  }
  // Waits for its commands to end and its fs process to go: the sandbox's lock, held
  // here, is all a start of the same sandbox waits for.
  if (live) live->stop();
  for (v1::Session session : sessions_.list_for_sandbox(sandbox.id())) {
    if (session.status() != v1::SESSION_STATUS_ACTIVE) continue;
    session.set_status(v1::SESSION_STATUS_CLOSED);
    *session.mutable_closed_at() = now_timestamp();
    sessions_.put(session);
  }
  if (sandbox.status() == v1::SANDBOX_STATUS_RUNNING) {
    sandbox.set_status(status);
    *sandbox.mutable_stopped_at() = now_timestamp();
    if (!why.empty()) sandbox.set_error_message(why);
    sandboxes_.put(sandbox);
  }
}

void SandboxService::watch_fs(const std::string& id, const std::shared_ptr<LiveSandbox>& live) {
  fs_exits_.watch(live->fs_pidfd(), [this, id, started = std::weak_ptr(live)](int pidfd) {
    fs_exited(id, started, pidfd);
  });
}

void SandboxService::fs_exited(const std::string& id, const std::weak_ptr<LiveSandbox>& started,
                               int pidfd) {
  const SandboxLocks::Guard lock = locks_.lock(id);
  // A stop (or a stop and a new start) got here first: its fs process went as asked.
  const std::shared_ptr<LiveSandbox> live = find_live(id);
  if (!live || live != started.lock()) return;
  const std::string why = describe_fs_exit(pidfd);  // before the stop below reaps it
  v1::Sandbox sandbox = load(id);
  // As a stop: commands and sessions killed, the dead mount detached, the fs reaped.
  stop_locked(sandbox, why, v1::SANDBOX_STATUS_ERROR);
  log::error("sandbox.fs_exited", {{"sandbox_id", id}, {"error", why}});
  audit(id, "sandbox_failed", {{"error", why}}, false);
}

v1::Sandbox SandboxService::StopSandbox(const v1::StopSandboxRequest& request) {
  const SandboxLocks::Guard lock = locks_.lock(request.sandbox_id());
  v1::Sandbox sandbox = load(request.sandbox_id());
  if (sandbox.status() == v1::SANDBOX_STATUS_PENDING)
    throw ApiError(StatusCode::FAILED_PRECONDITION,
                   "sandbox " + sandbox.id() + " was never started", kReasonSandboxNotRunning);
  const std::string holder = caller_holder();  // while it still runs
  const bool was_running = sandbox.status() == v1::SANDBOX_STATUS_RUNNING;
  // Already stopped, it only reads the record (refused before anything is done).
  if (!was_running) hold_read_answer(sandbox, "StopSandbox", holder);
  stop_locked(sandbox, "");
  log::info("sandbox.stopped", {{"sandbox_id", sandbox.id()}});
  audit(sandbox.id(), "sandbox_stopped");
  if (was_running) hold_change_answer(sandbox, "StopSandbox", holder);
  return sandbox;
}

std::string SandboxService::destroy_locked(const std::string& id, const char* op) {
  v1::Sandbox sandbox = load(id);
  stop_locked(sandbox, "");
  sessions_.remove_for_sandbox(id);
  sandboxes_.remove(id);
  // Only renamed here: removing a large write layer takes seconds, and the sandbox's lock
  // (or a caller of its id) need not wait for that. Without its record nothing can reach
  // the tree again; should the server die before it is removed, recover() sweeps it.
  std::string doomed = trash_dir() + "/" + id;
  std::error_code error;
  std::filesystem::rename(state_dir(id), doomed, error);
  if (error) {  // removed in place then, still outside the lock (a no-op when not there)
    if (error != std::errc::no_such_file_or_directory)
      log::warn("sandbox.trash_failed", {{"sandbox_id", id}, {"error", error.message()}});
    doomed = state_dir(id);
  }
  log::info("sandbox.destroyed", {{"sandbox_id", id}});
  // After the fs process is gone: this is the trail's last line.
  audit(id, op);
  return doomed;
}

void SandboxService::destroy(const std::string& id, const char* op) {
  std::string doomed;
  {
    const SandboxLocks::Guard lock = locks_.lock(id);
    doomed = destroy_locked(id, op);
  }
  std::error_code ignored;
  std::filesystem::remove_all(doomed, ignored);  // does not follow symlinks
}

void SandboxService::DestroySandbox(const v1::DestroySandboxRequest& request) {
  destroy(request.sandbox_id(), "sandbox_destroyed");
}

int SandboxService::sweep_state_trees() {
  std::set<std::string> known;
  for (const v1::Sandbox& sandbox : sandboxes_.list_all()) known.insert(sandbox.id());
  int swept = 0;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(trash_dir(), error)) {
    std::error_code ignored;
    std::filesystem::remove_all(entry.path(), ignored);
    ++swept;
  }
  for (const auto& entry : std::filesystem::directory_iterator(options_.sandboxes_dir, error)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with(".") || known.count(name)) continue;
    std::error_code ignored;
    std::filesystem::remove_all(entry.path(), ignored);
    ++swept;
  }
  return swept;
}

int SandboxService::recover() {
  // fs processes of a crashed server still at work (a commit) first: they write into the
  // codebases and hold mounts and write layers (orphan_fs.h).
  const int orphans = end_orphaned_fs(options_.sandboxes_dir);
  // Containers next: they bind the mounts swept next, and run as ids leased again soon.
  const int containers = sweep_containers(options_.docker);
  const int swept = sweep_mount_root(options_.mount_root);
  const int trees = sweep_state_trees();
  // The cgroups of a killed server's sandboxes and commands (their processes ended above
  // or are killed with them here).
  const int cgroups = runtime::sweep_stale_cgroups();
  int stopped = 0;
  for (v1::Sandbox sandbox : sandboxes_.list_all()) {
    if (sandbox.status() != v1::SANDBOX_STATUS_RUNNING) continue;
    const SandboxLocks::Guard lock = locks_.lock(sandbox.id());
    stop_locked(sandbox, "stopped because the server restarted; start it again");
    audit(sandbox.id(), "sandbox_stopped", {{"why", "server restarted"}});
    ++stopped;
  }
  log::info("server.recovered", {{"sandboxes_stopped", stopped},
                                 {"mounts_swept", swept},
                                 {"state_trees_removed", trees},
                                 {"containers_removed", containers},
                                 {"cgroups_removed", cgroups},
                                 {"fs_processes_ended", orphans}});
  return stopped;
}

void SandboxService::shutdown() {
  std::vector<std::string> ids;
  {
    const std::lock_guard lock(live_mu_);
    for (const auto& [id, live] : live_) ids.push_back(id);
  }
  for (const std::string& id : ids) {
    const SandboxLocks::Guard lock = locks_.lock(id);
    if (auto sandbox = sandboxes_.get(id); sandbox && find_live(id)) {
      stop_locked(*sandbox, "stopped by server shutdown");
      audit(id, "sandbox_stopped", {{"why", "server shutdown"}});
    }
    const std::lock_guard live_lock(live_mu_);
    live_.erase(id);  // a live sandbox without a record (none expected) goes too
  }
}

int SandboxService::reap_expired() {
  const auto now = std::chrono::system_clock::now();
  int reaped = 0;
  for (const v1::Sandbox& sandbox : sandboxes_.list_all()) {
    if (!sandbox.has_expires_at() || from_timestamp(sandbox.expires_at()) > now) continue;
    try {
      destroy(sandbox.id(), "sandbox_expired");
    } catch (const ApiError& error) {
      if (error.reason() == kReasonSandboxNotFound) continue;  // destroyed meanwhile
      throw;
    }
    log::info("sandbox.expired", {{"sandbox_id", sandbox.id()}});
    ++reaped;
  }
  return reaped;
}

void SandboxService::after_commit(const std::string& codebase_id, const std::string& committer,
                                  const v1::CommitChangesResponse& commit) {
  // Also after a commit that applied nothing: its room was reserved (commit_room.h) and
  // the recount gives back what did not land.
  if (commit.applied().empty() && commit.denied().empty() && commit.conflicts().empty()) return;
  stats_.mark(codebase_id);
  if (commit.applied().empty()) return;
  base_changed(codebase_id, paths_to_refresh(commit), committer);
}

void SandboxService::base_changed(const std::string& codebase_id,
                                  const std::vector<std::string>& paths,
                                  const std::string& except) {
  std::vector<std::pair<std::string, std::shared_ptr<LiveSandbox>>> others;
  {
    const std::lock_guard lock(live_mu_);
    for (const auto& [id, live] : live_)
      if (id != except && live->codebase_id() == codebase_id) others.emplace_back(id, live);
  }
  for (const auto& [id, live] : others) {
    try {
      live->refresh(paths);
    } catch (const std::exception& error) {
      log::warn("sandbox.refresh_failed", {{"sandbox_id", id}, {"error", error.what()}});
    }
  }
}

}  // namespace agentfense::server
