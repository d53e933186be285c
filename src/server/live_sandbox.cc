#include "server/live_sandbox.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

#include "common/child_process.h"
#include "common/errors.h"
#include "common/log.h"
#include "server/commit_room.h"
#include "server/write_layer.h"

namespace agentfense::server {
namespace {

MountPlan owned_by(MountPlan plan, const supervisor::HostIdLease& ids) {
  plan.owner_uid = ids.uid();
  plan.owner_gid = ids.gid();
  return plan;
}

using layer::control::Op;

// An fd that is readable while `a` or `b` is (an epoll set: level-triggered, nothing is
// ever consumed), for the runtime's single cancel_fd. `b` may be -1.
UniqueFd readable_when_either(int a, int b) {
  UniqueFd set(::epoll_create1(EPOLL_CLOEXEC));
  if (!set) throw SystemError("epoll_create1", errno);
  for (const int fd : {a, b}) {
    if (fd < 0) continue;
    epoll_event event{.events = EPOLLIN, .data = {.fd = fd}};
    check_syscall(::epoll_ctl(set.get(), EPOLL_CTL_ADD, fd, &event), "epoll_ctl");
  }
  return set;
}

}  // namespace

LiveSandbox::LiveSandbox(const LiveSandboxPlan& plan,
                         std::unique_ptr<MemoryBudget::Grant> rules_charge)
    : rules_charge_(std::move(rules_charge)),
      plan_(plan),
      policy_(policy::Policy::compile(plan.mount.rules)),
      ids_(supervisor::HostIdLease::acquire(plan.id_range)),
      boundary_(started_before_mount()),
      mount_(owned_by(plan.mount, ids_)),
      cancel_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  try {
    if (!cancel_) throw SystemError("eventfd", errno);
    if (!boundary_) boundary_ = make_boundary(plan_.runtime, boundary_plan(mount_.mountpoint()));
    // What every exec runs with (exec() below): the runtime gets ready for it now, while
    // the client is still on its way with the first command.
    runtime::ExecSpec commands = command_base();
    commands.workspace_fd = mount_.workspace_fd();
    boundary_->prepare(commands);
  } catch (...) {
    boundary_.reset();  // a container before the mount it binds
    throw;
  }
}

BoundaryPlan LiveSandbox::boundary_plan(const std::string& workspace) const {
  return {.sandbox_id = plan_.mount.sandbox_id,
          .workspace = workspace,
          .uid = ids_.uid(),
          .gid = ids_.gid(),
          .id_range = plan_.id_range,
          .limits = plan_.limits};
}

std::unique_ptr<runtime::Boundary> LiveSandbox::started_before_mount() const {
  // A container binds the mount's host path: it can only be made once that is mounted.
  if (plan_.runtime.type == v1::RUNTIME_TYPE_DOCKER) return nullptr;
  std::unique_ptr<runtime::Boundary> boundary = make_boundary(plan_.runtime, boundary_plan(""));
  boundary->prepare_before_workspace(command_base());
  return boundary;
}

runtime::ExecSpec LiveSandbox::command_base() const {
  runtime::ExecSpec commands;
  commands.limits = plan_.limits;
  commands.output_limit = plan_.output_limit;
  commands.host_uid = ids_.uid();
  commands.host_gid = ids_.gid();
  return commands;
}

void LiveSandbox::cancel_commands() {
  const std::uint64_t one = 1;
  // Never read back: the fd stays readable, so commands started later stop at once too.
  if (::write(cancel_.get(), &one, sizeof one) != sizeof one)
    throw SystemError("write eventfd", errno);
}

bool LiveSandbox::stopping() const {
  pollfd probe{.fd = cancel_.get(), .events = POLLIN, .revents = 0};
  return ::poll(&probe, 1, 0) == 1 && (probe.revents & POLLIN) != 0;
}

void LiveSandbox::stop() {
  // A hung fs process (stopped, deadlocked) never answers what waits on its mount: a
  // command or a file call blocked there ignores every kill and holds activity_ for good.
  abort_if_hung();
  cancel_commands();
  close_all_sessions();
  const std::unique_lock exclusive = activity_for_stop();
  mount_.stop();
}

void LiveSandbox::abort_if_hung() {
  if (mount_.answers(SandboxMount::kPingWait)) return;
  // One that exited (the exit watch stops its sandbox) left nothing waiting to abort.
  if (exits_by(mount_.fs_pidfd(), Clock::now())) return;
  log::warn("sandbox.fs_hung", {{"sandbox_id", plan_.mount.sandbox_id}});
  mount_.abort();
}

std::unique_lock<std::shared_timed_mutex> LiveSandbox::activity_for_stop() {
  // Commands hold activity_ shared while they run, a commit holds it exclusively. A
  // commit of many files may take long: waited for as long as its fs process answers.
  std::unique_lock exclusive(activity_, std::defer_lock);
  while (!exclusive.try_lock_for(SandboxMount::kPingWait)) {
    if (mount_.answers(SandboxMount::kPingWait)) continue;
    log::warn("sandbox.fs_hung", {{"sandbox_id", plan_.mount.sandbox_id}});
    mount_.abort();  // what holds activity_ on the mount fails now and lets go
    exclusive.lock();
    break;
  }
  return exclusive;
}

LiveSandbox::~LiveSandbox() {
  close_all_sessions();
  boundary_.reset();  // declared before mount_, but goes first: a container binds it
}

namespace {

// Runs its function when the scope ends, however it ends. The function must not throw.
template <typename Function>
class ScopeExit {
 public:
  explicit ScopeExit(Function function) : function_(std::move(function)) {}
  ~ScopeExit() { function_(); }
  ScopeExit(const ScopeExit&) = delete;
  ScopeExit& operator=(const ScopeExit&) = delete;

 private:
  Function function_;
};

// What is left of a call's time until `deadline`, at least `floor`.
std::chrono::milliseconds time_left(LiveSandbox::Clock::time_point deadline,
                                    std::chrono::milliseconds floor) {
  return std::max(
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - LiveSandbox::Clock::now()),
      floor);
}

}  // namespace

std::string LiveSandbox::begin_command_trail(Clock::time_point deadline) {
  const std::string id = start_tag_ + "." + std::to_string(++commands_);
  // The caller's deadline, not the fixed cap: an exec with timeout 3s waited 60 s here on
  // a hung fs process, then ran its command on the hung mount anyway. But at least a
  // second: a command given 1 ms was refused as if its sandbox were unusable (the fs
  // process answers in microseconds, not in no time); it now starts and times out.
  const auto wait =
      std::min(time_left(deadline, std::chrono::seconds(1)), SandboxMount::kControlCap);
  try {
    mount_.control({.op = Op::kAuditBegin, .command = id}, wait);
  } catch (const layer::control::Refused& error) {
    // An answer: the fs process is there, only its trail is not (auditing off).
    log::warn("audit.command_begin_failed", {{"command", id}, {"error", error.what()}});
  } catch (const FsNotAnswering& unreachable) {
    log::warn("audit.command_begin_failed", {{"command", id}, {"error", unreachable.what()}});
    throw fs_not_answering_within(unreachable, wait);
  }
  return id;
}

bool LiveSandbox::end_command_trail(const std::string& command_id, Clock::time_point deadline) {
  try {
    return mount_.control_by({.op = Op::kAuditEnd, .command = command_id}, deadline).pending;
  } catch (const std::exception& error) {
    log::error("audit.command_end_failed", {{"command", command_id}, {"error", error.what()}});
    return true;
  }
}

LiveSandbox::ExecOutcome LiveSandbox::exec(runtime::ExecSpec spec, int call_cancel_fd,
                                           Clock::time_point deadline,
                                           const std::function<void()>& output_done) {
  const UniqueFd cancel = readable_when_either(cancel_.get(), call_cancel_fd);
  spec.workspace_fd = mount_.workspace_fd();
  spec.cancel_fd = cancel.get();
  spec.limits = plan_.limits;
  spec.output_limit = plan_.output_limit;
  spec.host_uid = ids_.uid();
  spec.host_gid = ids_.gid();
  ExecOutcome outcome;
  outcome.command_id = begin_command_trail(deadline);
  // The timeout runs from the call's arrival, the wait for the fs process included.
  spec.timeout = time_left(deadline, std::chrono::milliseconds(1));
  bool pending = true;
  {
    // Also on errors; after the command's hold on activity_ ended.
    const ScopeExit done([&] {
      if (output_done) output_done();
    });
    const ScopeExit end_trail([&] { pending = end_command_trail(outcome.command_id, deadline); });
    const std::shared_lock running(activity_);
    outcome.result = with_runtime_errors([&] { return boundary_->run(spec); });
  }
  // A command killed because the sandbox is stopping or its caller went away left
  // half-done work: not synced (it stays pending in the write layer). An empty write
  // layer has nothing to sync: no room to reserve, no commit round trip.
  if (plan_.sync_on_complete && !outcome.result.cancelled && pending)
    outcome.commit = sync_after_command(deadline);
  return outcome;
}

void LiveSandbox::open_session(const std::string& id, const std::string& shell,
                               const std::map<std::string, std::string>& env) {
  runtime::SessionSpec spec;
  spec.shell = shell;
  spec.env = env;
  spec.workspace_fd = mount_.workspace_fd();
  spec.limits = plan_.limits;
  spec.output_limit = plan_.output_limit;
  spec.host_uid = ids_.uid();
  spec.host_gid = ids_.gid();
  reserve_session_slot();
  std::shared_ptr<runtime::CommandSession> session;
  try {
    session = with_runtime_errors([&] { return boundary_->open_session(std::move(spec)); });
  } catch (...) {
    const std::lock_guard lock(sessions_mu_);
    --sessions_starting_;
    throw;
  }
  const std::lock_guard lock(sessions_mu_);
  --sessions_starting_;
  sessions_[id] = std::move(session);
}

void LiveSandbox::reserve_session_slot() {
  const std::lock_guard lock(sessions_mu_);
  // A shell that died on its own (an `exit` not yet noticed, OOM) holds no slot.
  const auto open = std::count_if(sessions_.begin(), sessions_.end(),
                                  [](const auto& entry) { return entry.second->alive(); });
  if (plan_.max_sessions > 0 && open + sessions_starting_ >= plan_.max_sessions)
    throw ApiError(StatusCode::RESOURCE_EXHAUSTED,
                   "sandbox " + plan_.mount.sandbox_id + " already has " +
                       std::to_string(plan_.max_sessions) +
                       " open sessions (sandbox.max_sessions_per_sandbox); destroy one first",
                   kReasonQuotaExceeded);
  ++sessions_starting_;
}

void LiveSandbox::enter_session_call(const std::string& id) {
  const std::lock_guard lock(sessions_mu_);
  std::int64_t& calls = session_calls_[id];
  // One call runs; the others wait for it, each holding its transport's thread.
  if (calls > kMaxSessionCallsWaiting)
    throw ApiError(StatusCode::RESOURCE_EXHAUSTED,
                   "session " + id + " already has " + std::to_string(kMaxSessionCallsWaiting) +
                       " calls waiting for its running command (at most " +
                       std::to_string(kMaxSessionCallsWaiting) +
                       " wait per session); wait for one to finish or use another session",
                   kReasonQuotaExceeded);
  ++calls;
}

void LiveSandbox::leave_session_call(const std::string& id) {
  const std::lock_guard lock(sessions_mu_);
  if (--session_calls_[id] <= 0) session_calls_.erase(id);
}

LiveSandbox::ExecOutcome LiveSandbox::session_exec(
    const std::string& id, const std::string& command,
    const std::function<void(runtime::Stream, std::string_view)>& on_output, int call_cancel_fd,
    Clock::time_point deadline, const std::function<void()>& output_done) {
  std::shared_ptr<runtime::CommandSession> session;
  {
    const std::lock_guard lock(sessions_mu_);
    const auto it = sessions_.find(id);
    if (it != sessions_.end()) session = it->second;
  }
  if (!session || !session->alive())
    throw ApiError(StatusCode::FAILED_PRECONDITION, "session " + id + " is closed",
                   kReasonSessionClosed);
  enter_session_call(id);
  const ScopeExit leave([&] { leave_session_call(id); });
  ExecOutcome outcome;
  outcome.command_id = begin_command_trail(deadline);
  // As for exec: the timeout runs from the call's arrival (deadline: arrival + timeout).
  const std::chrono::milliseconds left = time_left(deadline, std::chrono::milliseconds(1));
  bool pending = true;
  {
    // Also on errors; after the command's hold on activity_ ended.
    const ScopeExit done([&] {
      if (output_done) output_done();
    });
    const ScopeExit end_trail([&] { pending = end_command_trail(outcome.command_id, deadline); });
    const std::shared_lock running(activity_);
    try {
      outcome.result = with_runtime_errors(
          [&] { return session->exec(command, left, on_output, call_cancel_fd); });
    } catch (const UserError&) {
      if (!session->alive())  // closed by a concurrent DestroySession
        throw ApiError(StatusCode::FAILED_PRECONDITION, "session " + id + " is closed",
                       kReasonSessionClosed);
      throw;  // a bad command or timeout: INVALID_ARGUMENT (error_status.h)
    }
  }
  // As for exec: a command abandoned because its caller went away is not synced.
  if (plan_.sync_on_complete && !outcome.result.cancelled && pending)
    outcome.commit = sync_after_command(deadline);
  return outcome;
}

bool LiveSandbox::close_session(const std::string& id) {
  std::shared_ptr<runtime::CommandSession> session;
  {
    const std::lock_guard lock(sessions_mu_);
    const auto it = sessions_.find(id);
    if (it == sessions_.end()) return false;
    session = std::move(it->second);
    sessions_.erase(it);
  }
  session->close();
  return true;
}

std::vector<std::string> LiveSandbox::session_ids() const {
  const std::lock_guard lock(sessions_mu_);
  std::vector<std::string> ids;
  for (const auto& [id, session] : sessions_) ids.push_back(id);
  return ids;
}

bool LiveSandbox::session_alive(const std::string& id) const {
  const std::lock_guard lock(sessions_mu_);
  const auto it = sessions_.find(id);
  return it != sessions_.end() && it->second->alive();
}

void LiveSandbox::close_all_sessions() {
  for (const std::string& id : session_ids()) close_session(id);
}

LiveSandbox::CallOutcome LiveSandbox::as_command(
    const std::function<void(const std::string& command_id)>& operation, bool sync) {
  const Clock::time_point deadline = Clock::now() + kFileCallFsWait;
  CallOutcome outcome;
  outcome.command_id = begin_command_trail(deadline);
  {
    const ScopeExit end_trail(
        [&] { static_cast<void>(end_command_trail(outcome.command_id, deadline)); });
    const std::shared_lock running(activity_);
    operation(outcome.command_id);
  }
  if (sync && plan_.sync_on_complete) outcome.commit = sync_after_command(deadline);
  return outcome;
}

void LiveSandbox::require_fs_answer() const {
  try {
    mount_.control({.op = Op::kPing}, kFileCallFsWait);
  } catch (const FsNotAnswering& unreachable) {
    throw fs_not_answering_within(unreachable, kFileCallFsWait);
  }
}

store::Room LiveSandbox::reserve_commit_room() const {
  if (!plan_.reserve_commit_room) return {};
  // Every name counted, not the quota's figure (which counts a hard-linked file once):
  // the commit writes a copy per name, and 16 MiB of quota hard-linked 21 times put
  // 336 MiB into a codebase capped at 100 MiB.
  return plan_.reserve_commit_room(write_layer_bytes(plan_.mount.state_dir));
}

v1::CommitChangesResponse LiveSandbox::commit_within_room(const std::vector<std::string>& paths,
                                                          const std::string& review_token) {
  return commit_within(reserve_commit_room(), paths, review_token,
                       Clock::now() + SandboxMount::kControlCap);
}

v1::CommitChangesResponse LiveSandbox::commit_within(const store::Room& room,
                                                     const std::vector<std::string>& paths,
                                                     const std::string& review_token,
                                                     Clock::time_point deadline) {
  const auto give_back = [this] {
    if (plan_.commit_room_unused) plan_.commit_room_unused();
  };
  try {
    return commit_to_wire(mount_
                              .control_by({.op = Op::kCommit,
                                           .paths = paths,
                                           .max_bytes = room.bytes,
                                           .review_token = review_token},
                                          deadline, SandboxMount::kLayerWorkCap)
                              .commit);
  } catch (const layer::control::RoomExceeded& full) {
    give_back();
    throw_commit_over_room(plan_.mount.sandbox_id, full.bytes(), room);
  } catch (const layer::control::ReviewOutdated& outdated) {
    give_back();
    throw_review_outdated(outdated.what());
  }
}

v1::CommitChangesResponse LiveSandbox::sync_after_command(Clock::time_point deadline) {
  const std::unique_lock exclusive(activity_);
  const auto skipped = [this](const std::exception& why) {
    log::warn("sandbox.sync_skipped",
              {{"sandbox_id", plan_.mount.sandbox_id}, {"reason", why.what()}});
    return v1::CommitChangesResponse{};
  };
  // The command has run: a sync that cannot reserve its room (full, or the layer could
  // not be measured) leaves the changes in the write layer for the next one.
  store::Room room;
  try {
    room = reserve_commit_room();
  } catch (const std::exception& cannot) {
    return skipped(cannot);
  }
  try {
    return commit_within(room, {}, "", deadline);
  } catch (const ApiError& full) {
    if (full.code() != StatusCode::RESOURCE_EXHAUSTED) throw;
    return skipped(full);
  }
}

v1::ListChangesResponse LiveSandbox::changes(const SandboxMount::ReplyBytes& on_reply_bytes) {
  layer::control::Reply reply = mount_.layer_work({.op = Op::kChanges}, on_reply_bytes);
  return changes_to_wire(std::move(reply.changes), reply.changes_omitted);
}

v1::DiffChangesResponse LiveSandbox::diff(const std::vector<std::string>& paths,
                                          const SandboxMount::ReplyBytes& on_reply_bytes) {
  layer::control::Reply reply =
      mount_.layer_work({.op = Op::kDiff, .paths = paths}, on_reply_bytes);
  v1::DiffChangesResponse out;
  out.set_diff(std::move(reply.diff));
  out.set_review_token(std::move(reply.review_token));
  return out;
}

v1::CommitChangesResponse LiveSandbox::commit(const std::vector<std::string>& paths,
                                              const std::string& review_token) {
  const std::unique_lock exclusive(activity_);
  return commit_within_room(paths, review_token);
}

void LiveSandbox::discard() {
  const std::unique_lock exclusive(activity_);
  mount_.layer_work({.op = Op::kDiscard});
}

void LiveSandbox::refresh(const std::vector<std::string>& paths) {
  if (paths.empty()) return;
  mount_.control({.op = Op::kRefresh, .paths = paths});
}

}  // namespace agentfense::server
