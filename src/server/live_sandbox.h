// A RUNNING sandbox: its mounted permission filesystem, its shell sessions, and the
// per-sandbox ordering of commands and commits.
//
// Ordering: commands (exec, session exec, file writes) hold `activity_` shared while
// they run; a commit or discard holds it exclusively, so a command never sees a
// half-applied commit and a commit never takes a file that a running command is still
// writing. With sync-on-complete, the commit after a command therefore waits until no
// other command of this sandbox is running.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "common/random_hex.h"
#include "common/unique_fd.h"
#include "policy/policy.h"
#include "runtime/boundary.h"
#include "runtime/exec.h"
#include "server/api.h"
#include "server/memory_budget.h"
#include "server/sandbox_mount.h"
#include "server/sandbox_runtime.h"
#include "store/upload_limits.h"
#include "supervisor/host_ids.h"

namespace agentfense::server {

// Calls of one session that may wait while its command runs (commands of a session run one
// at a time). Each waiting call holds a transport thread (a REST worker) for its whole wait:
// 140 calls queued on one session held all 128 REST workers of a shared server.
inline constexpr std::int64_t kMaxSessionCallsWaiting = 4;

// How long a file call (ReadSandboxFile, WriteSandboxFile, ListSandboxFiles) waits for the
// sandbox's fs process to answer before it is refused: those calls carry no deadline of
// their own, and one on a hung fs process waited 60 s, then blocked on the mount for good.
inline constexpr std::chrono::seconds kFileCallFsWait{10};

struct LiveSandboxPlan {
  std::string codebase_id;
  MountPlan mount;
  runtime::Limits limits;
  std::size_t output_limit = 16 << 20;
  bool sync_on_complete = true;
  std::int64_t max_sessions = 0;       // open sessions at once; 0 = unlimited
  IdRange id_range = kDefaultIdRange;  // sandbox.uid_range
  SandboxRuntime runtime;              // bwrap or docker (sandbox_runtime.h)
  // Called before every commit with the bytes the write layer holds (commit_room.h);
  // throws ApiError when they would grow the codebase past its limit: an explicit commit
  // fails with it, a sync after a command is skipped (the changes stay in the write
  // layer, bounded by its quota). Returns the room there was, which the fs process
  // checks again under its commit locks. Empty: no check.
  std::function<store::Room(std::int64_t pending)> reserve_commit_room;
  // Called when a commit that reserved room was refused after all, so that the codebase's
  // recorded size is counted again (what was reserved did not land).
  std::function<void()> commit_room_unused;
};

class LiveSandbox {
 public:
  using Clock = std::chrono::steady_clock;

  // Leases the sandbox's host ids, mounts, then starts the runtime (docker: the
  // container); throws on failure (ApiError for docker's, see sandbox_runtime.h).
  // `rules_charge` (may be null) holds what its compiled rules keep, here and in its fs
  // process, until the sandbox is gone.
  explicit LiveSandbox(const LiveSandboxPlan& plan,
                       std::unique_ptr<MemoryBudget::Grant> rules_charge = nullptr);
  LiveSandbox(const LiveSandbox&) = delete;
  LiveSandbox& operator=(const LiveSandbox&) = delete;
  ~LiveSandbox();

  const policy::Policy& policy() const { return policy_; }
  const LiveSandboxPlan& plan() const { return plan_; }
  const std::string& codebase_id() const { return plan_.codebase_id; }
  int workspace_fd() const { return mount_.workspace_fd(); }
  // The fs process's pidfd, for a watch of its exit; -1 once stopped.
  int fs_pidfd() const { return mount_.fs_pidfd(); }
  // The host ids every process of this sandbox runs as (its own, while it runs).
  uid_t host_uid() const { return ids_.uid(); }
  gid_t host_gid() const { return ids_.gid(); }

  // One command to completion. The spec's workspace, limits, ids, output cap and cancel
  // fd are filled in here: the command is killed when the sandbox stops or when
  // `call_cancel_fd` (the caller went away) becomes readable, and then reports
  // cancelled. Returns the result and, with sync-on-complete, the commit that followed
  // (empty when nothing changed; never after a cancelled command).
  // `deadline` is the call's arrival plus its timeout: the wait for the fs process before
  // the command comes out of it (spec.timeout is cut to what is left), and a fs process
  // that does not answer by then fails the call (FAILED_PRECONDITION,
  // SANDBOX_NOT_RUNNING) without running anything. The audit and sync round trips after
  // the command wait past it only while the fs process answers pings (a large sync).
  struct ExecOutcome {
    runtime::ExecResult result;
    v1::CommitChangesResponse commit;
    std::string command_id;  // the "cmd" of the command's file events in the audit trail
  };
  // `output_done`, when given, is called once the command ended and its output is all
  // captured, before the sync (also when it failed): a unary exec's output stops waiting
  // for room in the output budget there (unary_output.h), else the sync, which waits for
  // every running command, and commands waiting for the synced one's room would wait on
  // each other.
  ExecOutcome exec(runtime::ExecSpec spec, int call_cancel_fd, Clock::time_point deadline,
                   const std::function<void()>& output_done = {});

  // Sessions (shell inside this sandbox's boundary). Throws ApiError(RESOURCE_EXHAUSTED)
  // without starting anything when max_sessions are open already (sessions still
  // starting count, so concurrent calls cannot overshoot).
  void open_session(const std::string& id, const std::string& shell,
                    const std::map<std::string, std::string>& env);
  // Throws ApiError(NOT_FOUND / FAILED_PRECONDITION SESSION_CLOSED), or
  // RESOURCE_EXHAUSTED (QUOTA_EXCEEDED) when kMaxSessionCallsWaiting calls already wait
  // for the session's running command. A readable `call_cancel_fd` abandons the command
  // (not the session), as a timeout does. `deadline` as for exec(): the command's
  // timeout is what is left of it once the fs process answered.
  ExecOutcome session_exec(const std::string& id, const std::string& command,
                           const std::function<void(runtime::Stream, std::string_view)>& on_output,
                           int call_cancel_fd, Clock::time_point deadline,
                           const std::function<void()>& output_done = {});
  // Kills every process of the session. Returns false when it was not open here.
  bool close_session(const std::string& id);
  std::vector<std::string> session_ids() const;
  // Open here and its shell still running (an `exit` in a command ends it).
  bool session_alive(const std::string& id) const;

  // The write layer, through the fs process. `on_reply_bytes`: SandboxMount::layer_work's
  // (the caller counts the fs process's answer as it arrives).
  v1::ListChangesResponse changes(const SandboxMount::ReplyBytes& on_reply_bytes = {});
  v1::DiffChangesResponse diff(const std::vector<std::string>& paths,
                               const SandboxMount::ReplyBytes& on_reply_bytes = {});
  // `review_token` non-empty: refused (REVIEW_OUTDATED) unless the changes are those a
  // diff of `paths` returned it for.
  v1::CommitChangesResponse commit(const std::vector<std::string>& paths,
                                   const std::string& review_token = "");
  void discard();
  // The base changed under us (another sandbox committed these paths).
  void refresh(const std::vector<std::string>& paths);

  // Runs `operation` (an API call on the workspace: ReadSandboxFile, WriteSandboxFile) as
  // one command: under the shared activity lock, with a command id of its own that its
  // file events carry (passed to `operation`, for the call's security event) and that are
  // on disk before this returns, then, with `sync` and sync-on-complete, syncs. Without
  // the id, the call's file events read as the agent's own (a background job's).
  struct CallOutcome {
    v1::CommitChangesResponse commit;
    std::string command_id;
  };
  // The fs process gets kFileCallFsWait to answer first; otherwise the call is refused as
  // exec() refuses it, and `operation` is not run.
  CallOutcome as_command(const std::function<void(const std::string& command_id)>& operation,
                         bool sync);
  // Throws as as_command() does when the fs process does not answer a ping within
  // kFileCallFsWait (for a file call that is not a command: ListSandboxFiles).
  void require_fs_answer() const;

  // Closes every session (kills their processes). The mount stays until destruction.
  void close_all_sessions();
  // The sandbox is being stopped: kills every command and session (later ones stop at
  // once), waits until none runs (a commit in progress completes first), then stops the
  // fs process and unmounts, before returning, whoever still holds this object: a start
  // right after must never find the previous fs process still serving the write layer.
  // An fs process that does not answer a ping (SandboxMount::kPingWait), before or while
  // this waits, is aborted and killed first: what waits on its mount then fails.
  void stop();
  // Kills every command in flight (they report cancelled) and every later one at once:
  // the sandbox is being stopped.
  void cancel_commands();
  // Whether cancel_commands() ran.
  bool stopping() const;

 private:
  // Marks a command's start in the fs process's audit recorder (its file events get the
  // command id); end_command_trail() waits until they are written and fdatasync'd, so
  // they are acknowledged before the command's answer. Failures are logged, not thrown.
  // end_command_trail() returns whether the write layer may hold anything to sync: false
  // only when the fs process said it was empty as the command ended (true on failure).
  // begin_command_trail() throws ApiError (FAILED_PRECONDITION, SANDBOX_NOT_RUNNING) when
  // the fs process does not answer by `deadline`: a command must not start on a hung mount.
  std::string begin_command_trail(Clock::time_point deadline);
  bool end_command_trail(const std::string& command_id, Clock::time_point deadline);
  std::atomic<std::uint64_t> commands_{0};
  // Command ids are "<start>.<n>": a trail outlives a start of its sandbox, and ids that
  // restarted at c1 after StopSandbox/StartSandbox joined one start's file events to
  // another start's command. Eight random hex digits per start.
  const std::string start_tag_ = random_hex(4);

  v1::CommitChangesResponse sync_after_command(Clock::time_point deadline);
  // stop()'s defences against a hung fs process (SandboxMount::abort).
  void abort_if_hung();
  std::unique_lock<std::shared_timed_mutex> activity_for_stop();
  void reserve_session_slot();  // throws ApiError(RESOURCE_EXHAUSTED)
  // Counts one more call of session `id` in session_calls_ (leave_session_call uncounts
  // it); throws ApiError(RESOURCE_EXHAUSTED) when kMaxSessionCallsWaiting already wait.
  void enter_session_call(const std::string& id);
  void leave_session_call(const std::string& id);
  store::Room reserve_commit_room() const;
  // Commits the changes at `paths` (all when empty) within what reserve_commit_room left.
  v1::CommitChangesResponse commit_within_room(const std::vector<std::string>& paths,
                                               const std::string& review_token = "");
  v1::CommitChangesResponse commit_within(const store::Room& room,
                                          const std::vector<std::string>& paths,
                                          const std::string& review_token,
                                          Clock::time_point deadline);

  // What every exec runs with but its workspace and command (the runtime prepares for it).
  runtime::ExecSpec command_base() const;
  BoundaryPlan boundary_plan(const std::string& workspace) const;
  // bwrap's boundary, already starting its launcher; null for docker (made after mount_).
  std::unique_ptr<runtime::Boundary> started_before_mount() const;

  // First, so given back last: after the policy and the fs process are gone.
  std::unique_ptr<MemoryBudget::Grant> rules_charge_;
  LiveSandboxPlan plan_;
  policy::Policy policy_;
  // Before mount_: leased first, returned last, after every process of the sandbox died.
  supervisor::HostIdLease ids_;
  // Before mount_, so that bwrap's boundary starts while the fs process mounts (its
  // launcher gets the workspace once the mount is ready); docker's container binds the
  // mount by path, so it is made after the mount. Either goes before the mount (the
  // destructor resets it).
  std::unique_ptr<runtime::Boundary> boundary_;
  SandboxMount mount_;
  UniqueFd cancel_;  // eventfd: written once when the sandbox stops
  std::shared_timed_mutex activity_;
  mutable std::mutex sessions_mu_;
  std::map<std::string, std::shared_ptr<runtime::CommandSession>> sessions_;
  std::int64_t sessions_starting_ = 0;  // slots reserved by open_session in progress
  // session id -> its calls in session_exec (the running one and those waiting).
  std::map<std::string, std::int64_t> session_calls_;
};

}  // namespace agentfense::server
