// SandboxApi implemented over the store (records that survive restarts) and the live
// sandboxes of this process (mounts, shells).
//
// Locking (the one place that states it). Nothing slow ever runs under a lock shared by
// all sandboxes, so one sandbox's slow start, destroy or command never stalls another's:
//   1. `locks_`: one lock per sandbox id (sandbox_locks.h), held across the start, stop,
//      destroy or expiry of that sandbox (a mount start may take seconds) and across a
//      layer operation (changes, diff, commit, discard) of that sandbox while it is not
//      running, which works on the state directory itself: a start, which mounts that
//      directory, waits for it instead of racing it. Never two sandboxes' locks at once.
//   2. `live_mu_`: only the lookup, insertion and erasure of `live_` entries; nothing is
//      called under it. Taken inside (1) or alone (every command's lookup).
//   3. `create_mu_`: CreateSandbox's count of the owner's sandboxes and the insertion of
//      the new one, so two creates cannot both pass sandbox.max_per_user. Taken alone.
// Order: (1) before (2); (3) with neither. Commands hold a shared_ptr to their LiveSandbox
// and run without any of these. Removing a destroyed sandbox's state tree happens after
// every lock is released: under its lock the tree is only renamed into a trash
// directory, which recover() empties should the server die before it is gone.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "server/api.h"
#include "server/audit_trails.h"
#include "server/disk_quota.h"
#include "server/exit_watch.h"
#include "server/live_sandbox.h"
#include "server/memory_budget.h"
#include "server/rules.h"
#include "server/sandbox_locks.h"
#include "server/spawner_thread.h"
#include "server/stats_refresher.h"
#include "server/unary_output.h"
#include "store/codebase_store.h"
#include "store/sandbox_records.h"
#include "store/session_records.h"

namespace agentfense::server {

struct SandboxServiceOptions {
  std::string fs_program;     // the `agentfense` binary serving each sandbox's mount
  std::string sandboxes_dir;  // <data_dir>/sandboxes/<id>/state
  // Where each sandbox's audit trail goes (<data_dir>/audit); null: no trail (unit tests).
  AuditTrails* audit = nullptr;
  std::string mount_root;  // storage.mount_path
  std::chrono::milliseconds default_timeout{std::chrono::minutes(5)};
  std::chrono::milliseconds max_timeout{std::chrono::hours(1)};
  std::chrono::milliseconds default_expiration{std::chrono::hours(24)};  // 0 = never
  int max_per_user = 100;                                                // 0 = unlimited
  std::int64_t max_sessions_per_sandbox = 16;                            // 0 = unlimited
  std::size_t output_limit = 16 << 20;
  IdRange id_range = kDefaultIdRange;                        // sandbox.uid_range
  v1::RuntimeType default_runtime = v1::RUNTIME_TYPE_BWRAP;  // runtime.type
  DockerOptions docker;                                      // runtime.docker.*
  // sandbox.disk_bytes / disk_inodes / pids_limit / memory_bytes (disk_quota.h).
  DiskQuotaPolicy disk{.max_bytes = std::int64_t{10} << 30,
                       .max_inodes = 1'000'000,
                       .max_pids = 1024,
                       .max_memory_bytes = std::int64_t{4} << 30};
  bool prewarm = true;  // sandbox.prewarm
};

class SandboxService final : public SandboxApi {
 public:
  SandboxService(SandboxServiceOptions options, store::CodebaseStore& codebases,
                 store::SandboxRecords& sandboxes, store::SessionRecords& sessions,
                 SpawnerThread& spawner);
  ~SandboxService() override;

  // Start-up after a crash or restart: sandboxes recorded as RUNNING are reported as
  // STOPPED (their write layers are intact), ACTIVE sessions as CLOSED, and leftover
  // containers of this server, mounts under the mount root, state trees of destroyed
  // sandboxes (a destroy cut short) are removed. Returns how many sandboxes were stopped.
  int recover();
  // Graceful shutdown: every live sandbox is stopped (sessions killed, unmounted).
  void shutdown();
  // Destroys sandboxes whose expires_at has passed. Returns how many.
  int reap_expired();

  v1::Sandbox CreateSandbox(const v1::CreateSandboxRequest&) override;
  v1::Sandbox GetSandbox(const v1::GetSandboxRequest&) override;
  v1::ListSandboxesResponse ListSandboxes(const v1::ListSandboxesRequest&) override;
  v1::Sandbox StartSandbox(const v1::StartSandboxRequest&) override;
  v1::Sandbox StopSandbox(const v1::StopSandboxRequest&) override;
  void DestroySandbox(const v1::DestroySandboxRequest&) override;

  v1::ExecResult Exec(const v1::ExecRequest&, CallContext& call) override;
  void ExecStream(const v1::ExecRequest&, CallContext& call,
                  const Emit<v1::ExecOutput>& emit) override;

  v1::Session CreateSession(const v1::CreateSessionRequest&) override;
  v1::Session GetSession(const v1::GetSessionRequest&) override;
  v1::ListSessionsResponse ListSessions(const v1::ListSessionsRequest&) override;
  void DestroySession(const v1::DestroySessionRequest&) override;
  v1::ExecResult SessionExec(const v1::SessionExecRequest&, CallContext& call) override;
  void SessionExecStream(const v1::SessionExecRequest&, CallContext& call,
                         const Emit<v1::ExecOutput>& emit) override;

  v1::ListChangesResponse ListChanges(const v1::ListChangesRequest&) override;
  v1::DiffChangesResponse DiffChanges(const v1::DiffChangesRequest&) override;
  v1::CommitChangesResponse CommitChanges(const v1::CommitChangesRequest&) override;
  void DiscardChanges(const v1::DiscardChangesRequest&) override;

  v1::ReadSandboxFileResponse ReadSandboxFile(const v1::ReadSandboxFileRequest&) override;
  v1::SandboxFileInfo WriteSandboxFile(const v1::WriteSandboxFileRequest&) override;
  v1::ListSandboxFilesResponse ListSandboxFiles(const v1::ListSandboxFilesRequest&) override;

  void GetAuditEvents(const v1::GetAuditEventsRequest&, CallContext& call,
                      const Emit<v1::AuditEvent>& emit) override;
  v1::AuditSummary GetAuditSummary(const v1::GetAuditSummaryRequest&) override;

  std::size_t live_count() const;

  // The codebase's files changed at `paths` (an upload, or a commit by `except`): every
  // other running sandbox over it drops its cached view of those paths.
  void base_changed(const std::string& codebase_id, const std::vector<std::string>& paths,
                    const std::string& except = {});

  // hold_read_answer() for an answer made outside this service (ListFiles: up to 4 MiB
  // of paths; a page of ListCodebases; a tenant's page of ListSandboxes), against the
  // caller's tenant's share: a HoldAnswer (api.h).
  void hold_caller_answer(const google::protobuf::Message& answer, const char* what);

 private:
  v1::Sandbox load(const std::string& id) const;                        // NOT_FOUND when unknown
  std::shared_ptr<LiveSandbox> running(const std::string& id) const;    // NOT_RUNNING
  std::shared_ptr<LiveSandbox> find_live(const std::string& id) const;  // null: not running
  std::string state_dir(const std::string& id) const;
  std::string trash_dir() const;
  SandboxRuntime runtime_of(const v1::Sandbox& sandbox) const;
  // The sandbox's trail file; NOT_FOUND (as for an unknown sandbox) when it has none.
  std::string trail_of(const std::string& sandbox_id) const;
  // The caller holds the sandbox's lock (locks_) in the *_locked functions. A RUNNING
  // sandbox ends as `status` (STOPPED; ERROR when its fs process died) with `why`.
  void stop_locked(v1::Sandbox& sandbox, const std::string& why,
                   v1::SandboxStatus status = v1::SANDBOX_STATUS_STOPPED);
  // Watches the fs process of `live` (just started as sandbox `id`): should it exit on
  // its own, fs_exited() tears the sandbox down as a stop would and records it ERROR.
  void watch_fs(const std::string& id, const std::shared_ptr<LiveSandbox>& live);
  void fs_exited(const std::string& id, const std::weak_ptr<LiveSandbox>& started, int pidfd);
  // Destroys the sandbox (NOT_FOUND when it is gone already) and returns its state tree,
  // moved aside, for the caller to remove once the lock is released. `op`:
  // "sandbox_destroyed" or "sandbox_expired", the audit event recorded.
  std::string destroy_locked(const std::string& id, const char* op);
  void destroy(const std::string& id, const char* op);
  // Removes trash left by destroys cut short and state trees without a record (a create
  // or destroy cut short); at start-up, before any call. Returns how many.
  int sweep_state_trees();
  // A layer operation's view of a sandbox (sandbox_service_layer.cc): the running
  // sandbox, or none and the sandbox's lock held while the caller works offline.
  struct LayerAccess {
    v1::Sandbox sandbox;
    std::shared_ptr<LiveSandbox> live;
    SandboxLocks::Guard offline;  // held only when `live` is null
  };
  LayerAccess layer_access(const std::string& id);
  // Appends a security event to the sandbox's trail (and the server log), with the
  // caller of the current call; a no-op without options_.audit.
  void audit(const std::string& sandbox_id, const std::string& op,
             nlohmann::ordered_json details = nlohmann::ordered_json::object(),
             bool allowed = true) const;
  // Runs `checks` (request validation); when one refuses the request (ApiError) on an
  // existing sandbox, records `op` as a denied event with the error, then rethrows.
  void audited_checks(const std::string& sandbox_id, const char* op, std::string_view command,
                      const std::function<void()>& checks) const;
  // Runs `call` (which sets the command id it ran as) and records `op` with the details
  // it returns, or denied with the error it threw (sandbox_service_layer.cc).
  void file_call(const std::string& sandbox_id, const char* op, const std::string& path,
                 const std::function<nlohmann::ordered_json(std::string& command_id)>& call);
  // What an answer holds until sent: the message in memory and the copy gRPC serializes
  // (REST: its JSON, which the message's memory covers: enums and names spelled out).
  // Twice its wire size was charged before, and a record of 10,000 small rules (150 KB on
  // the wire, 1.2 MB in memory) held 4 times its charge (sweep W, W2).
  static std::int64_t answer_bytes(const google::protobuf::Message& answer);
  // Charges `answer` to read_budget_ through `grant` (answer_grant) until it was sent
  // (KeptUntilSent): answer_bytes(). A diff of 16 MiB and the listings were held
  // uncounted, for good while their client did not read them (sweep T). Past the budget
  // or the tenant's share the call fails (RESOURCE_EXHAUSTED).
  void hold_answer(const google::protobuf::Message& answer,
                   const std::shared_ptr<MemoryBudget::Grant>& grant);
  // The same for a commit's report, which is never refused (the commit was applied): one
  // that does not fit keeps only its counts. Charged anyway, one tenant's unread reports
  // of a commit that conflicted on 20,000 paths took the budget to 4 times its size and
  // the server to 1.1 GB, and every other tenant's reads were refused (sweep U, U9).
  void hold_commit_report(v1::CommitChangesResponse& report, const std::string& holder);
  // Charges an answer that only reads records or listings (GetSandbox, a page of
  // ListSandboxes, ListSessions, ListFiles, ListCodebases; an idempotent StartSandbox or
  // StopSandbox) as hold_answer() does, to `holder`, refusing it past the budget or the
  // share. Answers holding under kUnchargedAnswerBytes (answer_bytes) are not charged: at
  // most one per thread of either transport, they hold at most ~150 MiB together.
  // Uncharged, one tenant's 32 unread pages of 64 sandboxes of ~450 KB each grew the
  // server by 1.8 GB (sweep V, V4).
  static constexpr std::int64_t kUnchargedAnswerBytes = std::int64_t{128} << 10;
  void hold_read_answer(const google::protobuf::Message& answer, const char* what,
                        const std::string& holder);
  // The same for the record a change answers with (CreateSandbox, a StartSandbox or
  // StopSandbox that did something): charged even past the budget, as the change was
  // made; such calls are bounded by what they do (disk, processes), not by the budget.
  void hold_change_answer(const google::protobuf::Message& answer, const char* what,
                          const std::string& holder);
  // Before such a change, when its answer will be charged (`like`: the request or
  // record it repeats): refused unless that answer fits `holder`'s share and the budget
  // now, so that what changes charge anyway passes the share by at most the changes in
  // flight (before, one tenant's unread creates held 118 MiB past any check: sweep W,
  // W3). StopSandbox is never refused: it gives back what a sandbox holds.
  void check_change_answer_room(const google::protobuf::Message& like, const char* what,
                                const std::string& holder);
  // Compiling a sandbox's rules in this process (CreateSandbox's check, a start, a stopped
  // sandbox's changes) takes memory, up to ~220 MB for the largest policy allowed, and
  // nothing bounded how many compiles ran at once: 100 creates sent together, all
  // refused as too complex (so counted against no quota), took the server to 3.2 GB
  // (sweep W, W1). A compile whose `cost` (compile_cost()) passes kFreeCompileBytes holds
  // it of compile_budget_ while it runs, against `holder`'s share, and is refused past either
  // (RESOURCE_EXHAUSTED). (Estimated by pattern bytes first, nine short brace patterns
  // of 82 MB each passed as free: sweep X, X1.)
  static constexpr std::int64_t kFreeCompileBytes = std::int64_t{256} << 10;
  std::unique_ptr<MemoryBudget::Grant> compile_charge(std::int64_t cost, const char* what,
                                                      const std::string& holder);
  // A running sandbox keeps its compiled rules twice, in this process (LiveSandbox) and in
  // its fs process, for as long as it runs; only its sandbox count bounded them: 20
  // sandboxes of one tenant, each with 1.5 KB of allowed brace rules, held 2.6 GB in fs
  // processes and 1.4 GB in the server (sweep Y, Y3). A start whose `cost` passes
  // kFreeCompileBytes holds kKeptRuleCopies times it of kept_rules_budget_ until the
  // sandbox stops, against `holder`'s share, and is refused past either.
  static constexpr std::int64_t kKeptRuleCopies = 2;
  std::unique_ptr<MemoryBudget::Grant> kept_rules_charge(std::int64_t cost,
                                                         const std::string& holder);
  // policy_from_wire(rules) under a compile_charge().
  policy::Policy compiled(const WireRules& rules, const char* what, const std::string& holder);
  // The grant of one such answer, made before its work: refused at once while the
  // tenant's unread answers fill its share.
  std::shared_ptr<MemoryBudget::Grant> answer_grant(const char* what, const std::string& holder);
  // Charges `grant` for an fs process's reply as it arrives, refusing it past the share:
  // concurrent diffs were charged only once made, so 16 diffs of 17 MB took the server
  // to 974 MiB before one was refused. kReplyCopies: the reply is held as read, then
  // parsed (nlohmann keeps its own buffer and the string) before it is the answer.
  static constexpr int kReplyCopies = 4;
  static SandboxMount::ReplyBytes charging(MemoryBudget::Grant& grant);
  // After a commit reached the codebase: other mounts of it drop their caches, and the
  // codebase's size/file_count are brought up to date.
  void after_commit(const std::string& codebase_id, const std::string& committer,
                    const v1::CommitChangesResponse& commit);
  std::chrono::milliseconds exec_timeout(const google::protobuf::Duration& requested,
                                         bool has_timeout) const;
  // A streaming call passes `on_output`; a unary one its `unary` output instead.
  v1::ExecResult run_exec(const v1::ExecRequest& request, CallContext& call,
                          const std::function<void(runtime::Stream, std::string_view)>& on_output,
                          UnaryOutput* unary = nullptr);
  v1::ExecResult run_session_exec(
      const v1::SessionExecRequest& request, CallContext& call,
      const std::function<void(runtime::Stream, std::string_view)>& on_output,
      UnaryOutput* unary = nullptr);
  v1::Session load_session(const std::string& id) const;

  SandboxServiceOptions options_;
  store::CodebaseStore& codebases_;
  store::SandboxRecords& sandboxes_;
  store::SessionRecords& sessions_;
  SpawnerThread& spawner_;
  SandboxLocks locks_;
  mutable std::mutex live_mu_;
  std::map<std::string, std::shared_ptr<LiveSandbox>> live_;
  std::mutex create_mu_;
  // ReadSandboxFile, and the answers of DiffChanges, ListChanges, ListSandboxFiles and
  // CommitChanges (hold_answer), and large records and listings (hold_read_answer),
  // server wide; one tenant's hold at most its share.
  MemoryBudget read_budget_{std::int64_t{256} << 20, "of files for other reads",
                            std::int64_t{128} << 20};
  // Output of unary execs (Exec, SessionExec) as captured and until sent, server wide;
  // one principal's hold at most half of it (unary_output.h).
  MemoryBudget output_budget_{std::int64_t{256} << 20, "of command output for other calls",
                              std::int64_t{128} << 20};
  // Rules being compiled in this process (compile_charge), server wide; a tenant's share
  // fits the largest policy allowed.
  MemoryBudget compile_budget_{std::int64_t{512} << 20, "of memory for compiling rules",
                               std::int64_t{256} << 20};
  // Compiled rules kept by running sandboxes (kept_rules_charge), server wide.
  MemoryBudget kept_rules_budget_{std::int64_t{2} << 30, "of memory for running sandboxes' rules",
                                  std::int64_t{1} << 30,
                                  "stop one of its sandboxes, or start it with fewer rules"};
  StatsRefresher stats_;  // stops early, while the store still exists
  // Declared last: stops first, while everything its handler touches still exists.
  ExitWatch fs_exits_;
};

}  // namespace agentfense::server
